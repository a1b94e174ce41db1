"""Parsing stored hashes and change messages into typed results."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from app.scoring.card import ActorContribution, TopicInfluence
from app.store.models import (
    CorruptRecord,
    DailyScore,
    LeaderboardEntry,
    ScoreChange,
    leaderboard_entries,
    parse_change,
    parse_explanation,
    parse_history,
    parse_user_score,
)

STORED = {
    "score": "57.3",
    "raw": "12.5",
    "style": "sharer",
    "engagers": "4",
    "updated_at": "1700000000123",
    "model_version": "clout-model-1",
    "components": '{"like":{"twitter":2.5},"share":{"twitter":6.0,"mastodon":4.0}}',
    "top_actors": '[["bob",5.5],["carol",1.25]]',
}


def test_user_score_from_a_stored_hash() -> None:
    score = parse_user_score("alice", STORED, rank=3, ranked=5)
    assert score is not None
    assert score.user_id == "alice"
    assert score.score == 57.3
    assert score.raw == 12.5
    assert score.rank == 3
    assert score.ranked == 5
    assert score.percentile == 50.0
    assert score.style == "sharer"
    assert score.engagers == 4
    assert score.updated_at_ms == 1_700_000_000_123
    assert score.model_version == "clout-model-1"
    assert score.components == {
        "like": {"twitter": 2.5},
        "share": {"twitter": 6.0, "mastodon": 4.0},
    }


def test_no_hash_means_no_score() -> None:
    assert parse_user_score("ghost", {}, rank=None, ranked=10) is None
    assert parse_explanation("ghost", {}) is None


def test_a_user_missing_from_the_leaderboard_has_no_rank() -> None:
    score = parse_user_score("alice", STORED, rank=None, ranked=3)
    assert score is not None
    assert (score.rank, score.percentile) == (None, None)


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in STORED.items() if k != "raw"},
        {**STORED, "score": "high"},
        {**STORED, "components": "{not json"},
        {**STORED, "engagers": "4.5"},
    ],
)
def test_a_malformed_hash_is_reported_not_guessed(broken: dict[str, str]) -> None:
    with pytest.raises(CorruptRecord, match="alice"):
        parse_user_score("alice", broken, rank=1, ranked=1)


def test_explanation_from_a_stored_hash() -> None:
    exp = parse_explanation("alice", STORED)
    assert exp is not None
    assert exp.top_actors == (ActorContribution("bob", 5.5), ActorContribution("carol", 1.25))
    assert exp.kind_totals() == {"like": 2.5, "share": 10.0}
    assert sum(exp.kind_totals().values()) == exp.raw
    assert (exp.score, exp.model_version, exp.updated_at_ms) == (
        57.3,
        "clout-model-1",
        1_700_000_000_123,
    )
    assert exp.curve_version == 0  # a card written before the live curve
    assert parse_explanation("alice", STORED | {"curve_version": "7"}).curve_version == 7  # type: ignore[union-attr]


@pytest.mark.parametrize("actors", ['[["bob"]]', '{"bob": 1}', '[["bob", "lots"]]'])
def test_malformed_top_actors_are_reported(actors: str) -> None:
    with pytest.raises(CorruptRecord):
        parse_explanation("alice", {**STORED, "top_actors": actors})


def test_history_keeps_the_window_oldest_first() -> None:
    stored = {
        "2024-01-03": "40.0",
        "2024-01-01": "30.5",
        "2023-12-01": "10.0",
        "2024-01-05": "41.0",
    }
    assert parse_history(stored, "2024-01-01", "2024-01-04") == [
        DailyScore(date(2024, 1, 1), 30.5),
        DailyScore(date(2024, 1, 3), 40.0),
    ]
    assert parse_history({}, "2024-01-01", "2024-01-04") == []


@pytest.mark.parametrize("stored", [{"2024-02-30": "1.0"}, {"2024-02-01": "n/a"}])
def test_history_with_a_bad_entry_is_reported(stored: dict[str, str]) -> None:
    with pytest.raises(CorruptRecord):
        parse_history(stored, "2024-01-01", "2024-12-31")


def test_change_messages() -> None:
    body = orjson.dumps({"user_id": "a", "score": 51.2, "previous": 50, "updated_at": 17})
    assert parse_change(body) == ScoreChange("a", 51.2, 50.0, 17)
    first = orjson.dumps({"user_id": "a", "score": 51.2, "previous": None, "updated_at": 17})
    assert parse_change(first.decode()).previous is None
    with pytest.raises(CorruptRecord):
        parse_change(b'{"user_id": "a"}')
    with pytest.raises(CorruptRecord):
        parse_change(b"garbage")


def test_leaderboard_rows_are_numbered_from_the_offset() -> None:
    rows = leaderboard_entries([("a", 9.0), ("b", 7.5)], ["80.0", None], offset=10, ranked=20)
    assert rows == [
        LeaderboardEntry(rank=11, user_id="a", raw=9.0, score=80.0, percentile=47.37),
        LeaderboardEntry(rank=12, user_id="b", raw=7.5, score=None, percentile=42.11),
    ]


def test_influential_about_is_parsed_in_stored_order() -> None:
    about = [
        {"topic": "coffee", "share": 0.6, "raw": 7.5, "score": 71.2, "curve": "topic"},
        {"topic": "tea", "share": 0.25, "raw": 3.1, "score": 40.0, "curve": "global"},
    ]
    score = parse_user_score(
        "alice", {**STORED, "influential_about": orjson.dumps(about).decode()}, 1, 1
    )
    assert score is not None
    assert score.influential_about == (
        TopicInfluence("coffee", 0.6, 7.5, 71.2, "topic"),
        TopicInfluence("tea", 0.25, 3.1, 40.0, "global"),
    )


@pytest.mark.parametrize("stored", [None, "[]"])
def test_no_influential_about_is_no_topics(stored: str | None) -> None:
    fields = STORED if stored is None else {**STORED, "influential_about": stored}
    score = parse_user_score("alice", fields, 1, 1)
    assert score is not None
    assert score.influential_about == ()


@pytest.mark.parametrize(
    "stored",
    ["{", '{"topic": "coffee"}', '[{"topic": "coffee"}]', '[{"topic": "x", "share": "a"}]'],
)
def test_a_malformed_influential_about_is_a_corrupt_record(stored: str) -> None:
    with pytest.raises(CorruptRecord, match="alice"):
        parse_user_score("alice", {**STORED, "influential_about": stored}, 1, 1)
