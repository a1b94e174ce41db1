"""The topic reader's pure parts: slugs, cursors, the campaign query's filters and the
candidates it reads from score hashes."""

from __future__ import annotations

import orjson
import pytest

from app.scoring.card import TopicInfluence
from app.store.models import CorruptRecord
from app.store.topics import (
    MAX_FIND_LIMIT,
    Influencer,
    InfluencerQuery,
    InvalidCursor,
    candidate,
    check_topic,
    decode_cursor,
    encode_cursor,
    main_network,
)


@pytest.mark.parametrize("topic", ["coffee", "cold-brew", "f1", "a", "x" * 32, "9_to_5"])
def test_slugs_are_topics(topic: str) -> None:
    assert check_topic(topic) == topic


@pytest.mark.parametrize("topic", ["", "Coffee", "-coffee", "cold brew", "x" * 33, "café", "a/b"])
def test_other_strings_are_refused_with_the_rule(topic: str) -> None:
    with pytest.raises(ValueError, match=r"invalid topic.*slug"):
        check_topic(topic)


@pytest.mark.parametrize(("topic", "offset"), [(None, 0), ("coffee", 250), ("a-b_c", 10**9)])
def test_cursors_round_trip(topic: str | None, offset: int) -> None:
    cursor = encode_cursor(topic, offset)
    assert cursor.isascii()
    assert "=" not in cursor
    assert decode_cursor(cursor, topic) == offset


def test_a_cursor_belongs_to_its_topic() -> None:
    with pytest.raises(InvalidCursor, match="another topic"):
        decode_cursor(encode_cursor("coffee", 5), "tea")
    with pytest.raises(InvalidCursor, match="another topic"):
        decode_cursor(encode_cursor("coffee", 5), None)
    with pytest.raises(InvalidCursor, match="another topic"):
        decode_cursor(encode_cursor(None, 5), "coffee")


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "Zm9v", encode_cursor(None, -1), "OjAx", "OiAx", "OjF4", "\u00e9t\u00e9"],
)
def test_malformed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="malformed"):
        decode_cursor(cursor, None)


def test_the_main_network_holds_most_of_the_raw() -> None:
    components = {"like": {"twitter": 2.0, "bsky": 1.0}, "share": {"bsky": 1.5}}
    assert main_network(components) == "bsky"
    assert main_network({"like": {"b": 1.0, "a": 1.0}}) == "a"  # a tie: name order
    assert main_network({}) is None
    assert main_network({"like": {"twitter": 0.0}}) is None


COFFEE = TopicInfluence("coffee", 0.5, 4.0, 60.0, "topic")


def person(score: float = 50.0, style: str = "explorer", network: str = "instagram") -> Influencer:
    return Influencer("alice", score, 9.0, style, network, None)


def test_a_query_without_filters_admits_everyone() -> None:
    assert InfluencerQuery().admits(person(score=1.0))


def test_each_filter_and_their_combination() -> None:
    query = InfluencerQuery(min_score=50.0, style="specialist", network="instagram")
    assert query.admits(person(50.0, "specialist", "instagram"))
    assert not query.admits(person(49.9, "specialist", "instagram"))
    assert not query.admits(person(80.0, "explorer", "instagram"))
    assert not query.admits(person(80.0, "specialist", "twitter"))


def test_with_a_topic_min_score_is_the_topic_score() -> None:
    query = InfluencerQuery(topic="coffee", min_score=55.0)
    high_global = Influencer("alice", 90.0, 9.0, "explorer", "instagram", None)
    assert not query.admits(high_global)  # not influential about coffee at all
    topical = Influencer("bob", 20.0, 1.0, "explorer", "instagram", COFFEE)
    assert query.admits(topical)  # topic score 60 >= 55, global 20 does not matter
    assert not InfluencerQuery(topic="coffee", min_score=60.1).admits(topical)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic": "Coffee"}, "invalid topic"),
        ({"min_score": -0.1}, "min_score"),
        ({"min_score": 100.5}, "min_score"),
        ({"style": "influencer"}, "unknown style 'influencer'; one of celebrity"),
        ({"network": "Insta Gram"}, "invalid network 'Insta Gram'"),
        ({"limit": 0}, "limit"),
        ({"limit": MAX_FIND_LIMIT + 1}, "limit"),
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InfluencerQuery(**kwargs)  # type: ignore[arg-type]


def fields(about: object = None) -> list[str | None]:
    components = orjson.dumps({"like": {"instagram": 3.0, "twitter": 1.0}}).decode()
    stored = None if about is None else orjson.dumps(about).decode()
    return ["42.5", "4.0", "specialist", components, stored]


def test_a_candidate_from_its_hash_fields() -> None:
    about = [
        {"topic": "tea", "share": 0.3, "raw": 1.2, "score": 30.0, "curve": "global"},
        {"topic": "coffee", "share": 0.5, "raw": 4.0, "score": 60.0, "curve": "topic"},
    ]
    found = candidate("alice", fields(about), "coffee")
    assert found == Influencer("alice", 42.5, 4.0, "specialist", "instagram", COFFEE)
    assert candidate("alice", fields(about), None) == Influencer(
        "alice", 42.5, 4.0, "specialist", "instagram", None
    )
    no_topic = candidate("alice", fields(about), "chess")
    assert no_topic is not None
    assert no_topic.topic is None


def test_a_vanished_hash_is_no_candidate_and_a_bad_one_is_corrupt() -> None:
    assert candidate("gone", [None, None, None, None, None], "coffee") is None
    with pytest.raises(CorruptRecord, match="alice"):
        candidate("alice", ["x", "4.0", "explorer", "{}", None], None)
    with pytest.raises(CorruptRecord, match="alice"):
        candidate("alice", fields([{"topic": "coffee"}]), "coffee")
