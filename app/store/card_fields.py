"""The score card's fields in the user hash: one table of their names, their stored form and how
they read back, shared by the writer (app/store/writer.py and write_cards.lua) and the readers
(app/store/models.py), so a field's name and format have one home (docs/redis.md lists them).

Adding a card field is one row in CARD_FIELDS: the writer sends it, the script stores it by its
name, and `card_values` reads it back into the ScoreCard attribute the row names.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.scoring.card import ActorContribution, ScoreCard, TopicInfluence

FENCE = "fence"
"""The hash field of the writer's fencing token (not a card attribute: the writer's fences give
it; docs/guarantees.md)."""


def format_score(score: float) -> str:
    """The stored form of a visible score: one decimal, so equal strings mean equal scores."""
    return f"{score:.1f}"


def _top_actors(text: str) -> tuple[ActorContribution, ...]:
    actors: list[list[Any]] = orjson.loads(text)
    return tuple(ActorContribution(str(actor), float(share)) for actor, share in actors)


def _influential_about(text: str) -> tuple[TopicInfluence, ...]:
    topics: list[dict[str, Any]] = orjson.loads(text)
    return tuple(
        TopicInfluence(
            str(t["topic"]), float(t["share"]), float(t["raw"]), float(t["score"]), str(t["curve"])
        )
        for t in topics
    )


@dataclass(frozen=True, slots=True)
class CardField:
    """One card attribute in the user hash.

    `name`: the hash field; `attr`: the ScoreCard attribute; `encode`: its stored text;
    `decode`: the attribute from the stored text; `default`: the value of a hash written before
    the field existed (None: the field is required, a hash without it is corrupt).
    """

    name: str
    attr: str
    encode: Callable[[ScoreCard], str]
    decode: Callable[[str], Any]
    default: Any = None


CARD_FIELDS: tuple[CardField, ...] = (
    CardField("score", "score", lambda c: format_score(c.score), float),
    CardField("raw", "raw", lambda c: repr(float(c.raw)), float),
    CardField("style", "style", lambda c: c.style, str),
    CardField("engagers", "engagers", lambda c: str(c.engagers), int),
    CardField("updated_at", "updated_at_ms", lambda c: str(c.updated_at_ms), int),
    CardField("model_version", "model_version", lambda c: c.model_version, str),
    # Cards written before the live curve have no field: the default curve (0) made them.
    CardField("curve_version", "curve_version", lambda c: str(c.curve_version), int, 0),
    CardField(
        "components", "components", lambda c: orjson.dumps(c.components).decode(), orjson.loads
    ),
    CardField(
        "top_actors",
        "top_actors",
        lambda c: orjson.dumps([[a.actor_id, a.contribution] for a in c.top_actors]).decode(),
        _top_actors,
    ),
    # #31; cards written before topics have no field: influential about nothing.
    CardField(
        "influential_about",
        "influential_about",
        lambda c: orjson.dumps([t.to_json_dict() for t in c.influential_about]).decode(),
        _influential_about,
        (),
    ),
)
"""The card's stored fields (the user hash also holds FENCE and the score feed's marks, which
write_cards.lua keeps)."""


def card_hash(card: ScoreCard, fence: int) -> list[str]:
    """The card as HSET-ready [field, value, ...] pairs: every CARD_FIELDS row, then FENCE."""
    pairs: list[str] = []
    for card_field in CARD_FIELDS:
        pairs += (card_field.name, card_field.encode(card))
    pairs += (FENCE, str(fence))
    return pairs


def card_values(fields: Mapping[str, str], attrs: Container[str] | None = None) -> dict[str, Any]:
    """The ScoreCard attributes (all but `user_id`, or those in `attrs`) read from a user hash.

    Raises KeyError for a missing required field and ValueError (or TypeError) for a malformed
    one.
    """
    values: dict[str, Any] = {}
    for card_field in CARD_FIELDS:
        if attrs is not None and card_field.attr not in attrs:
            continue
        stored = fields.get(card_field.name)
        if stored is None and card_field.default is not None:
            values[card_field.attr] = card_field.default
        else:
            values[card_field.attr] = card_field.decode(fields[card_field.name])
    return values
