"""The score feed's records: their JSON on the topics, and refusals of anything else."""

from __future__ import annotations

import orjson
import pytest

from app.core.settings import Settings
from app.kafka.score_feed import ScoreFeed, ScoreRecord, ThresholdRecord

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
