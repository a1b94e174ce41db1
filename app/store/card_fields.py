"""The score card's fields in the user hash: one table of their names and how they read back
(app/store/models.py reads with it; docs/redis.md lists them).

The kernel writes them (`HASH_FIELDS` in kernel/src/cards.rs, in this table's order, then
FENCE): encoding a card in Python was a third of the worker's time per score write. Adding a card
field is a row here and a value there; tests/unit/kernel/test_card_rows.py fails until both agree,
as it reads random cards back from what the kernel encodes.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.scoring.card import ActorContribution, TopicInfluence

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

    `name`: the hash field; `attr`: the ScoreCard attribute; `decode`: the attribute from the
    stored text; `default`: the value of a hash written before the field existed (None: the
    field is required, a hash without it is corrupt).
    """

    name: str
    attr: str
    decode: Callable[[str], Any]
    default: Any = None


CARD_FIELDS: tuple[CardField, ...] = (
    CardField("score", "score", float),  # one decimal (`format_score`)
    CardField("raw", "raw", float),
    CardField("style", "style", str),
    CardField("engagers", "engagers", int),
    CardField("updated_at", "updated_at_ms", int),
    CardField("model_version", "model_version", str),
    # Cards written before the live curve have no field: the default curve (0) made them.
    CardField("curve_version", "curve_version", int, 0),
    CardField("components", "components", orjson.loads),
    CardField("top_actors", "top_actors", _top_actors),
    # #31; cards written before topics have no field: influential about nothing.
    CardField("influential_about", "influential_about", _influential_about, ()),
)
"""The card's stored fields (the user hash also holds FENCE and the score feed's marks, which
write_cards.lua keeps)."""


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
