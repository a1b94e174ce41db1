"""The engagement event: the public contract producers write to Kafka, and its validation rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Signal kind; each has its own topic, base weight and half-life."""

    LIKE = "like"
    SHARE = "share"
    MENTION = "mention"


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    """One valid engagement: `actor_id` liked/shared/mentioned `target_id` at `ts_ms`."""

    event_id: str
    kind: Kind
    network: str
    actor_id: str
    target_id: str
    post_id: str | None
    ts_ms: int
    topics: tuple[str, ...] = ()
    """What the engagement was about: distinct topic slugs in first-seen order (at most
    `MAX_TOPICS`); empty when the event says nothing about it."""


class InvalidEvent(ValueError):
    """Raised by validation; `reason` is a short, stable, human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_ID_LEN = 128
"""The longest event, actor, target or post id accepted, in characters (the API's user id path
parameter takes the same)."""


@dataclass(frozen=True, slots=True)
class EventRules:
    """What makes an event acceptable; built from the model parameters (`ModelParams.event_rules`).

    `horizon_ms` is the oldest age still worth scoring (older signals have decayed to noise), and
    `max_future_ms` tolerates producer clock skew without letting a future `ts` pin a user's state.
    """

    horizon_ms: int
    max_future_ms: int
    max_id_len: int = MAX_ID_LEN


ENVELOPE_MAX_EVENTS = 500
"""Most events one Kafka message may carry as an envelope (a JSON array of event objects)."""


def envelope_item_kind(obj: object, topic_kind: Kind) -> None:
    """Check that an envelope item names its kind, and that it is the kind its topic carries.

    Inside an envelope every event says its `kind`, so an envelope read out of context is still
    self-describing; the topic stays the authority (a share in the likes topic is refused).
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("not an object")
    kind = obj.get("kind", _MISSING)
    if kind is _MISSING:
        raise InvalidEvent("missing field: kind")
    if kind != topic_kind.value:
        raise InvalidEvent(f"kind is not {topic_kind.value!r} (the topic's kind)")


SLUG_MAX_LEN = 32
"""The longest network or topic slug (`NETWORK_PATTERN`)."""
NETWORK_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{SLUG_MAX_LEN - 1}}}")
"""A network slug: lowercase, so `Twitter` and `twitter` can never split one user's signals.
Topic slugs follow the same rule (`topic_slug` maps a hashtag or a category to one)."""

MAX_TOPICS = 5
"""Most distinct topics one event may name."""


def validate_event(obj: object, kind: Kind, now_ms: int, rules: EventRules) -> EngagementEvent:
    """Turn one decoded JSON value into an `EngagementEvent`, or raise `InvalidEvent(reason)`.

    The kind comes from the topic, not the payload. Unknown extra fields are ignored so producers
    can add fields without breaking the scorer. Reasons are short and stable because they end up
    in dead-letter records and metrics labels.
    """
    if not isinstance(obj, dict):
        raise InvalidEvent("not an object")
    event_id = _id_field(obj, "event_id", rules.max_id_len)
    network = obj.get("network", _MISSING)
    if network is _MISSING:
        raise InvalidEvent("missing field: network")
    if not isinstance(network, str):
        raise InvalidEvent("wrong type: network")
    if NETWORK_PATTERN.fullmatch(network) is None:
        raise InvalidEvent("invalid network")
    topics = _topics(obj.get("topics"))
    actor_id = _id_field(obj, "actor_id", rules.max_id_len)
    target_id = _id_field(obj, "target_id", rules.max_id_len)
    if "post_id" not in obj:
        raise InvalidEvent("missing field: post_id")
    post_id = obj["post_id"]
    if post_id is not None:
        if not isinstance(post_id, str):
            raise InvalidEvent("wrong type: post_id")
        if not post_id:
            raise InvalidEvent("empty id: post_id")
        if len(post_id) > rules.max_id_len:
            raise InvalidEvent("id too long: post_id")
    ts = obj.get("ts", _MISSING)
    if ts is _MISSING:
        raise InvalidEvent("missing field: ts")
    # bool is a subclass of int; `true` is not a timestamp.
    if type(ts) is not int:
        raise InvalidEvent("wrong type: ts")
    if ts > now_ms + rules.max_future_ms:
        raise InvalidEvent("ts in the future")
    if ts < now_ms - rules.horizon_ms:
        raise InvalidEvent("ts older than horizon")
    if actor_id == target_id:
        raise InvalidEvent("self-engagement")
    return EngagementEvent(
        event_id=event_id,
        kind=kind,
        network=network,
        actor_id=actor_id,
        target_id=target_id,
        post_id=post_id,
        ts_ms=ts,
        topics=topics,
    )


WireValue = str | int | list[str] | None
"""A value of an event's wire form."""


def event_to_json_dict(event: EngagementEvent) -> dict[str, WireValue]:
    """The wire form of `event` (the kind travels as the topic, so it is not in the payload;
    `topics` only when the event has some, so untagged events keep their old form)."""
    out: dict[str, WireValue] = {
        "event_id": event.event_id,
        "network": event.network,
        "actor_id": event.actor_id,
        "target_id": event.target_id,
        "post_id": event.post_id,
        "ts": event.ts_ms,
    }
    if event.topics:
        out["topics"] = list(event.topics)
    return out


def topic_slug(label: str) -> str:
    """A hashtag (`#ColdBrew`) or a category (`Food & Drink`) as a topic slug (`coldbrew`,
    `food-drink`): lowercased, without a leading `#`, runs of other characters made one `-`.

    For producers; the worker never rewrites a topic, it refuses one that is not a slug. Raises
    `InvalidEvent("invalid topic")` when nothing of a slug is left.
    """
    slug = re.sub(r"[^a-z0-9_]+", "-", label.strip().lstrip("#").lower()).strip("-_")[:32]
    if NETWORK_PATTERN.fullmatch(slug) is None:
        raise InvalidEvent("invalid topic")
    return slug


def envelope_item(event: EngagementEvent) -> dict[str, WireValue]:
    """The wire form of `event` inside an envelope, where every event names its kind."""
    return {**event_to_json_dict(event), "kind": event.kind.value}


_MISSING = object()


def _topics(value: object) -> tuple[str, ...]:
    """The `topics` field: absent, null or a list of slugs (duplicates ignored, at most
    `MAX_TOPICS` distinct ones); every item is checked before the count."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidEvent("wrong type: topics")
    for topic in value:
        if not isinstance(topic, str):
            raise InvalidEvent("wrong type: topics")
        if NETWORK_PATTERN.fullmatch(topic) is None:
            raise InvalidEvent("invalid topic")
    topics = tuple(dict.fromkeys(value))
    if len(topics) > MAX_TOPICS:
        raise InvalidEvent("too many topics")
    return topics


def _id_field(obj: dict[object, object], name: str, max_len: int) -> str:
    value = obj.get(name, _MISSING)
    if value is _MISSING:
        raise InvalidEvent(f"missing field: {name}")
    if not isinstance(value, str):
        raise InvalidEvent(f"wrong type: {name}")
    if not value:
        raise InvalidEvent(f"empty id: {name}")
    if len(value) > max_len:
        raise InvalidEvent(f"id too long: {name}")
    return value
