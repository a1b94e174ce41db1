"""The events the benchmark sends, and the exact counts the worker must report for them."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from random import Random

from app.kafka.publisher import EventPublisher
from app.scoring.events import Kind
from app.simulation.population import NETWORKS, WireEvent, generate_events

KindEvent = tuple[Kind, WireEvent]
CHUNK = 5000


@dataclass(slots=True)
class Expectation:
    """Running tally of sent events: counted once per event id, repeats are duplicates."""

    ids: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    sent: int = 0
    duplicates: int = 0

    def add(self, event: WireEvent) -> None:
        """Account for one event handed to the producer."""
        self.sent += 1
        event_id = str(event["event_id"])
        if event_id in self.ids:
            self.duplicates += 1
        else:
            self.ids.add(event_id)
        self.targets.add(str(event["target_id"]))

    @property
    def counted(self) -> int:
        """Events the worker must fold into signals (first sightings)."""
        return self.sent - self.duplicates


def population(
    users: int, events: int, seed: int, end_ms: int | None = None, *, topics: bool = False
) -> list[KindEvent]:
    """The synthetic population's engagement (the same generator as `clout simulate`), untagged
    unless `topics` (the topic-tagged pipeline rate is measured apart)."""
    end = int(time.time() * 1000) if end_ms is None else end_ms
    return list(generate_events(users, events, seed, end, span_days=30, topics=topics))


MEMORY_TOPIC_POOL = 5000
"""Topics the memory phase's users are engaged about (each user has its own `topics` of them)."""
TOPICS_PER_EVENT = 4


def fresh_users(
    first: int, stop: int, actors: Sequence[str], seed: int, tag: str, topics: int = 0
) -> Iterator[KindEvent]:
    """Events for the new users `m{first}`..`m{stop-1}`: grows the tracked set. Without
    `topics` one untagged event each; with it, each user is engaged about `topics` distinct
    topics of `MEMORY_TOPIC_POOL` (`TOPICS_PER_EVENT` an event), so its state holds them all."""
    rng = Random(seed * 1_000_003 + first)
    now = int(time.time() * 1000)
    kinds = (Kind.LIKE, Kind.SHARE, Kind.MENTION)
    for i in range(first, stop):
        own = [f"mt{(i + 131 * j) % MEMORY_TOPIC_POOL}" for j in range(topics)]
        parts = [own[k : k + TOPICS_PER_EVENT] for k in range(0, topics, TOPICS_PER_EVENT)]
        for n, part in enumerate(parts or [[]]):
            kind = rng.choices(kinds, weights=(80, 12, 8))[0]
            network = NETWORKS[rng.randrange(4)]
            event: WireEvent = {
                "event_id": f"{tag}-mem-{i}" if n == 0 else f"{tag}-mem-{i}-{n}",
                "network": network,
                "actor_id": actors[rng.randrange(len(actors))],
                "target_id": f"m{i:07d}",
                "post_id": None if kind is Kind.MENTION else f"m{i:07d}-{network[:2]}0",
                "ts": now - rng.randrange(30 * 86_400_000),
            }
            if part:
                event["topics"] = part
            yield kind, event


def tracer(index: int, actor: str, prefix: str) -> KindEvent:
    """An event for a brand-new user: its first score is always announced on the change feed."""
    return (
        Kind.LIKE,
        {
            "event_id": f"{prefix}{index}",
            "network": "twitter",
            "actor_id": actor,
            "target_id": f"{prefix}{index}",
            "post_id": f"{prefix}{index}-p",
            "ts": int(time.time() * 1000),
        },
    )


async def publish_all(
    publisher: EventPublisher, events: Iterable[KindEvent], expect: Expectation
) -> None:
    """Send events as fast as the broker takes them, in chunks; every one must be accepted."""
    chunk: list[KindEvent] = []
    for item in events:
        chunk.append(item)
        if len(chunk) == CHUNK:
            await _send(publisher, chunk, expect)
            chunk = []
    if chunk:
        await _send(publisher, chunk, expect)


async def _send(publisher: EventPublisher, chunk: list[KindEvent], expect: Expectation) -> None:
    results = await publisher.publish_many(chunk)
    refused = [r for r in results if not r.accepted]
    if refused:
        raise RuntimeError(f"{len(refused)} events refused, e.g. {refused[0].reason}")
    for _, event in chunk:
        expect.add(event)
