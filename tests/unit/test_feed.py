"""The score feed's records: their JSON form and decoding (app/feed.py)."""

from __future__ import annotations

import orjson
import pytest

from app.feed import ScoreRecord
from app.scoring.card import TopicInfluence

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
