"""The executor's Redis side as an in-memory double, a recorder of what it sends to Kafka, and a
`BatchScorer` built on them: what the executor tests, the in-memory crash runs
(tests/support/memory_source.py) and the replay's differential test share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from app.scoring.card import ScoreCard
from app.scoring.events import Kind
from app.scoring.model import DEFAULT_CURVE
from app.scoring.params import ModelParams
from streams.executor import BatchScorer
from streams.ordering import InOrderGate
from streams.state import StateCache

PARAMS = ModelParams()


@dataclass
class Redis:
    """Dedupe, actor raws, card writes and the schedule, as the executor calls them; the cards
    written outlive a worker process, so a successor's runs read on from them. Dedupe keeps
    app/store/first_sightings.lua's rule and a written card sets its user's raw, as the store's
    writer sets the leaderboard's."""

    raws: dict[str, float] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)
    looked_up: list[list[str]] = field(default_factory=list)
    writes: list[list[ScoreCard]] = field(default_factory=list)
    cards: dict[str, ScoreCard] = field(default_factory=dict)

    async def first_sightings(self, sightings: Sequence[tuple[str, str]]) -> list[bool]:
        return [self.seen.setdefault(event_id, token) == token for event_id, token in sightings]

    async def lookup(self, user_ids: Sequence[str]) -> list[float | None]:
        self.looked_up.append(list(user_ids))
        return [self.raws.get(user) for user in user_ids]

    async def write(
        self, cards: Sequence[ScoreCard], cause: str, fences: Mapping[str, int] | None = None
    ) -> None:
        self.writes.append(list(cards))
        self.cards.update({card.user_id: card for card in cards})
        self.raws.update({card.user_id: card.raw for card in cards})

    async def schedule(self, entries: object) -> None:
        return None


@dataclass
class DeadLetters:
    """The dead letters the executor sends: each one's headers (where it was read, and why)."""

    headers: list[dict[str, bytes]] = field(default_factory=list)

    async def send(self, key: bytes | None, value: bytes | None, headers: dict[str, bytes]) -> None:
        self.headers.append(headers)


def batch_scorer(
    states: StateCache,
    redis: Redis,
    *,
    kinds: Mapping[str, Kind],
    partitions: int,
    part_events: int,
    now_ms: int,
    gate: InOrderGate | None = None,
    dead_letters: DeadLetters | None = None,
) -> BatchScorer:
    """A `BatchScorer` on `redis` for the topics of `kinds` (topic -> kind), with a clock stopped
    at `now_ms`; its dead letters go to `dead_letters`."""
    topics = SimpleNamespace(
        kind_of_topic=kinds, rekeyed_name="rekeyed", dead_letters=dead_letters or DeadLetters()
    )
    return BatchScorer(
        topics=cast(Any, topics),
        states=states,
        writer=cast(Any, SimpleNamespace(leaderboard=SimpleNamespace(raws=redis.lookup))),
        feed=cast(Any, redis),
        dedupe=cast(Any, redis),
        due=cast(Any, redis),
        params=PARAMS,
        curve=lambda: DEFAULT_CURVE,
        rules=PARAMS.event_rules,
        partitions=partitions,
        max_backoff_s=1.0,
        part_events=part_events,
        gate=gate,
        clock=lambda: now_ms / 1000,
    )
