"""Settings: the model's parameters named once each, the topics, the Redis seeds."""

from __future__ import annotations

import dataclasses

import pytest

from app.core.settings import ScoringSettings, Settings
from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR
from app.scoring.events import Kind
from app.scoring.params import ModelParams


def test_every_model_parameter_has_exactly_one_setting() -> None:
    named = [
        str(extra["model_param"])
        for info in ScoringSettings.model_fields.values()
        if isinstance(extra := info.json_schema_extra, dict)
    ]
    params = [f.name for f in dataclasses.fields(ModelParams) if f.init]
    assert sorted(named) == sorted(params)


def test_settings_convert_by_their_unit_and_keep_the_models_types() -> None:
    scoring = ScoringSettings(horizon_days=1.5, max_future_skew_s=2.5, top_actors=7)
    params = Settings(scoring=scoring).model_params()
    assert params.horizon_ms == int(1.5 * MS_PER_DAY)
    assert isinstance(params.horizon_ms, int)
    assert params.max_future_ms == 2500
    assert params.top_actors == 7
    assert isinstance(params.like_half_life_ms, float)


def test_integer_settings_default_to_integers() -> None:
    assert ScoringSettings().top_actors == 32
    assert isinstance(ScoringSettings().top_actors, int)


def test_topic_settings_are_the_topic_names_only() -> None:
    topics = Settings.topic_settings()
    assert set(topics) >= {"topic_likes", "topic_dead_letters", "topic_scores"}
    assert all(isinstance(getattr(Settings(), name), str) for name in topics)
    assert "topic_partitions" not in topics


@pytest.mark.parametrize(
    ("nodes", "seeds"),
    [
        ("", []),
        ("10.0.0.2:7001, :7002,", [("10.0.0.2", 7001), ("127.0.0.1", 7002)]),
    ],
)
def test_cluster_seed_nodes_parse_with_loopback_as_the_default_host(
    nodes: str, seeds: list[tuple[str, int]]
) -> None:
    assert Settings(redis_cluster_nodes=nodes).redis_cluster_seeds == seeds


def test_default_settings_convert_back_to_the_model_defaults() -> None:
    assert Settings().model_params() == ModelParams()


def test_settings_tunables_reach_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUT_SCORING__LIKE_HALF_LIFE_DAYS", "7")
    monkeypatch.setenv("CLOUT_SCORING__BURST_HALF_LIFE_HOURS", "2")
    monkeypatch.setenv("CLOUT_SCORING__TOP_ACTORS", "16")
    params = Settings().model_params()
    assert params.like_half_life_ms == 7 * MS_PER_DAY
    assert params.half_life_ms(Kind.LIKE) == 7 * MS_PER_DAY
    assert params.burst_half_life_ms == 2 * MS_PER_HOUR
    assert params.top_actors == 16
    assert params.event_rules.horizon_ms == 90 * MS_PER_DAY
    assert params.event_rules.max_future_ms == 300_000
