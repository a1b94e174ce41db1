"""The score feed's records: their JSON on the topics, and refusals of anything else."""

from __future__ import annotations

import orjson
import pytest

from app.core.settings import Settings
from app.kafka.score_feed import ScoreFeed, ScoreRecord, ThresholdRecord
from app.scoring.card import TopicInfluence

RECORD = ScoreRecord(
    user_id="alice",
    score=57.3,
    previous=None,
    raw=12.5,
    style="sharer",
    model_version="clout-model-2",
    curve_version=3,
    updated_at=1_732_233_600_123,
    cause="event",
)


def test_a_score_record_round_trips_as_a_json_object() -> None:
    value = RECORD.to_json()
    assert orjson.loads(value)["previous"] is None
    assert orjson.loads(value)["updated_at"] == 1_732_233_600_123
    assert ScoreRecord.from_json(value) == RECORD


def test_a_threshold_record_round_trips() -> None:
    record = ThresholdRecord("bob", 50.0, "down", 48.9, 50.2, 7, "decay")
    assert ThresholdRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize("value", [b"[1, 2]", b'"text"', b"{}", b'{"user_id": "x", "extra": 1}'])
def test_anything_but_a_whole_record_is_refused(value: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        ScoreRecord.from_json(value)


async def test_the_feed_follows_the_topic_it_is_asked_for() -> None:
    settings = Settings(topic_scores="s.scores", topic_score_thresholds="s.thresholds")
    scores, thresholds = ScoreFeed(settings), ScoreFeed(settings, thresholds=True)
    assert (scores.topic, thresholds.topic) == ("s.scores", "s.thresholds")
    await scores.aclose()  # never started: closing is still safe
    await thresholds.aclose()


ABOUT = (
    TopicInfluence("coffee", 0.6, 7.5, 71.2, "topic"),
    TopicInfluence("tea", 0.25, 3.1, 40.0, "global"),
)


def test_a_score_record_carries_influential_about_both_ways() -> None:
    record = ScoreRecord(
        "alice", 71.0, 70.5, 12.5, "specialist", "m", 3, 1_795_000_000_000, "event", ABOUT
    )
    wire = orjson.loads(record.to_json())
    assert wire["influential_about"] == [
        {"topic": "coffee", "share": 0.6, "raw": 7.5, "score": 71.2, "curve": "topic"},
        {"topic": "tea", "share": 0.25, "raw": 3.1, "score": 40.0, "curve": "global"},
    ]
    assert ScoreRecord.from_json(record.to_json()) == record


def test_a_record_without_topics_decodes_with_none() -> None:
    older = {
        "user_id": "bob",
        "score": 12.0,
        "previous": None,
        "raw": 0.5,
        "style": "explorer",
        "model_version": "m",
        "curve_version": 0,
        "updated_at": 1,
        "cause": "decay",
    }
    assert ScoreRecord.from_json(orjson.dumps(older)).influential_about == ()


@pytest.mark.parametrize("about", [{"topic": "coffee"}, ["coffee"], [{"topic": "coffee"}]])
def test_a_malformed_influential_about_is_refused(about: object) -> None:
    value = orjson.loads(ScoreRecord("a", 1.0, None, 0.1, "explorer", "m", 0, 1, "event").to_json())
    value["influential_about"] = about
    with pytest.raises((TypeError, ValueError)):
        ScoreRecord.from_json(orjson.dumps(value))
