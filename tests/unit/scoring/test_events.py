"""Event validation: every invalid case has its own stable reason; valid events pass untouched."""

from __future__ import annotations

from typing import Any

import pytest

from app.scoring.events import (
    EngagementEvent,
    EventRules,
    InvalidEvent,
    Kind,
    event_to_json_dict,
    topic_slug,
    validate_event,
)

NOW = 1_767_225_600_000
RULES = EventRules(horizon_ms=90 * 86_400_000, max_future_ms=300_000)


def wire(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": "e-1",
        "network": "twitter",
        "actor_id": "alice",
        "target_id": "bob",
        "post_id": "p-9",
        "ts": NOW - 1000,
    }
    event.update(changes)
    return event


def without(field: str) -> dict[str, Any]:
    event = wire()
    del event[field]
    return event


def test_valid_event_becomes_engagement_event() -> None:
    event = validate_event(wire(), Kind.SHARE, NOW, RULES)
    assert event == EngagementEvent(
        event_id="e-1",
        kind=Kind.SHARE,
        network="twitter",
        actor_id="alice",
        target_id="bob",
        post_id="p-9",
        ts_ms=NOW - 1000,
    )


@pytest.mark.parametrize(
    "obj",
    [
        wire(post_id=None),
        wire(extra="ignored", nested={"a": [1, 2]}),
        wire(network="x"),
        wire(network="linked_in-2"),
        wire(network="a" * 32),
        wire(event_id="e" * 128, actor_id="a" * 128, target_id="t" * 128, post_id="p" * 128),
        wire(ts=NOW + 300_000),
        wire(ts=NOW - 90 * 86_400_000),
    ],
    ids=[
        "null post",
        "extra fields",
        "one-letter network",
        "network with _ and -",
        "32-char network",
        "128-char ids",
        "exactly max future",
        "exactly at horizon",
    ],
)
def test_valid_variants_pass(obj: dict[str, Any]) -> None:
    event = validate_event(obj, Kind.LIKE, NOW, RULES)
    assert event.actor_id == obj["actor_id"]
    assert event.ts_ms == obj["ts"]


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([], "not an object"),
        ("{}", "not an object"),
        (None, "not an object"),
        (without("event_id"), "missing field: event_id"),
        (without("network"), "missing field: network"),
        (without("actor_id"), "missing field: actor_id"),
        (without("target_id"), "missing field: target_id"),
        (without("post_id"), "missing field: post_id"),
        (without("ts"), "missing field: ts"),
        (wire(event_id=7), "wrong type: event_id"),
        (wire(network=None), "wrong type: network"),
        (wire(actor_id=["a"]), "wrong type: actor_id"),
        (wire(target_id=3.5), "wrong type: target_id"),
        (wire(post_id=12), "wrong type: post_id"),
        (wire(ts=True), "wrong type: ts"),
        (wire(ts=float(NOW)), "wrong type: ts"),
        (wire(ts=str(NOW)), "wrong type: ts"),
        (wire(ts=None), "wrong type: ts"),
        (wire(event_id=""), "empty id: event_id"),
        (wire(actor_id=""), "empty id: actor_id"),
        (wire(target_id=""), "empty id: target_id"),
        (wire(post_id=""), "empty id: post_id"),
        (wire(event_id="e" * 129), "id too long: event_id"),
        (wire(actor_id="a" * 129), "id too long: actor_id"),
        (wire(target_id="t" * 129), "id too long: target_id"),
        (wire(post_id="p" * 129), "id too long: post_id"),
        (wire(network="Twitter"), "invalid network"),
        (wire(network=""), "invalid network"),
        (wire(network="-twitter"), "invalid network"),
        (wire(network="a" * 33), "invalid network"),
        (wire(network="twit ter"), "invalid network"),
        (wire(ts=NOW + 300_001), "ts in the future"),
        (wire(ts=NOW - 90 * 86_400_000 - 1), "ts older than horizon"),
        (wire(ts=-1), "ts older than horizon"),
        (wire(actor_id="bob"), "self-engagement"),
    ],
)
def test_invalid_events_give_their_reason(obj: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as excinfo:
        validate_event(obj, Kind.LIKE, NOW, RULES)
    assert excinfo.value.reason == reason
    assert str(excinfo.value) == reason


def test_max_id_len_is_a_rule() -> None:
    rules = EventRules(horizon_ms=RULES.horizon_ms, max_future_ms=0, max_id_len=4)
    short = {"actor_id": "al", "target_id": "bo", "post_id": None, "ts": NOW}
    assert validate_event(wire(event_id="abcd", **short), Kind.LIKE, NOW, rules).event_id == "abcd"
    with pytest.raises(InvalidEvent, match="id too long: event_id"):
        validate_event(wire(event_id="abcde", **short), Kind.LIKE, NOW, rules)


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("post_id", ["p-1", None])
def test_wire_form_round_trips(kind: Kind, post_id: str | None) -> None:
    event = validate_event(wire(post_id=post_id), kind, NOW, RULES)
    as_json = event_to_json_dict(event)
    assert set(as_json) == {"event_id", "network", "actor_id", "target_id", "post_id", "ts"}
    assert validate_event(as_json, kind, NOW, RULES) == event


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        (None, ()),
        ([], ()),
        (["coffee"], ("coffee",)),
        (["coffee", "tea", "coffee"], ("coffee", "tea")),
        (["a", "b", "c", "d", "e", "a", "b"], ("a", "b", "c", "d", "e")),
    ],
)
def test_topics_are_optional_distinct_slugs(topics: object, expected: tuple[str, ...]) -> None:
    event = validate_event(wire(topics=topics), Kind.LIKE, NOW, RULES)
    assert event.topics == expected
    assert validate_event(wire(), Kind.LIKE, NOW, RULES).topics == ()


@pytest.mark.parametrize(
    ("topics", "reason"),
    [
        ("coffee", "wrong type: topics"),
        ({"coffee": 1}, "wrong type: topics"),
        (["coffee", 7], "wrong type: topics"),
        (["Coffee"], "invalid topic"),
        (["#coffee"], "invalid topic"),
        (["t" * 33], "invalid topic"),
        ([""], "invalid topic"),
        (["#coffee", 7], "invalid topic"),  # items in order: the first bad one decides
        (["a", "b", "c", "d", "e", "f"], "too many topics"),
    ],
)
def test_bad_topics_are_refused_with_their_reason(topics: object, reason: str) -> None:
    with pytest.raises(InvalidEvent) as refused:
        validate_event(wire(topics=topics), Kind.LIKE, NOW, RULES)
    assert refused.value.reason == reason


def test_topics_travel_on_the_wire_only_when_present() -> None:
    tagged = validate_event(wire(topics=["tea", "coffee"]), Kind.LIKE, NOW, RULES)
    assert event_to_json_dict(tagged)["topics"] == ["tea", "coffee"]
    assert validate_event(event_to_json_dict(tagged), Kind.LIKE, NOW, RULES) == tagged
    assert "topics" not in event_to_json_dict(validate_event(wire(), Kind.LIKE, NOW, RULES))


@pytest.mark.parametrize(
    ("label", "slug"),
    [("#ColdBrew", "coldbrew"), ("Food & Drink", "food-drink"), ("  coffee ", "coffee")],
)
def test_hashtags_and_categories_map_to_a_topic_slug(label: str, slug: str) -> None:
    assert topic_slug(label) == slug


def test_a_label_with_nothing_of_a_slug_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="invalid topic"):
        topic_slug("#☕")
