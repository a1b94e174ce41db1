"""Run the worker's step offline over a stream of events, so calibration measures the worker.

A replay is one worker that owns the one partition every event was produced to: the events become
that partition's records (the topic named by the kind, consecutive offsets per topic, orjson
values), taken in batches of `WORKER_BATCH_EVENTS` as the worker takes them, and each batch goes
through the step the executor runs (app/step): triage, validating against `now_ms` as a worker
catching up on a backlog at `now_ms` would; the deduplicator's rule; `PartFold`; and
`score_update` for the batch's users, all scored at `now_ms`. What the worker keeps in Redis is
kept here in memory: the event ids seen (the first sighting of an id counts, as
app/store/first_sightings.lua decides) and each user's stored raw, which later batches read their
actors' standings from, as the worker reads the leaderboard.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

import orjson
from clout_kernel import Signals

from app.core.settings import Settings
from app.scoring.card import ScoreCard
from app.scoring.events import Kind
from app.scoring.model import DEFAULT_CURVE, Curve, ModelParams
from app.step import plan
from app.step.plan import Position
from app.step.score_update import score_update
from app.step.stored_user import StoredUser

WORKER_BATCH_EVENTS: int = Settings.model_fields["batch_max_events"].default
"""Records per batch: the worker's default batch size."""
PARTITION = 0
ROUTING = plan.Routing({kind.value: kind for kind in Kind}, "rekeyed", partitions=1)
"""Topics named by their kind, all on the one partition (so nothing is re-keyed)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A record of the replayed partition, as the step reads one (`plan.RawMessage`)."""

    topic: str
    offset: int
    value: bytes
    partition: int = PARTITION
    headers: tuple[tuple[str, bytes], ...] = ()


def records(events: Iterable[tuple[Kind, object]]) -> Iterator[Record]:
    """`events` (kind, decoded JSON value) as the partition's records, in order."""
    offsets: Counter[str] = Counter()
    for kind, obj in events:
        topic = kind.value
        yield Record(topic, offsets[topic], orjson.dumps(obj))
        offsets[topic] += 1


@dataclass
class ReplayResult:
    """What a replay leaves behind: per-user state, what was written, and what was refused."""

    stored: dict[str, StoredUser] = field(default_factory=dict)
    raws: dict[str, float] = field(default_factory=dict)
    """Each user's raw as last written (what the leaderboard holds)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Each user's score as last written."""
    accepted: int = 0
    refused: list[tuple[Position, str]] = field(default_factory=list)
    """Dead letters of triage: where (index None: the whole record) and why."""
    repeated: list[Position] = field(default_factory=list)
    """Events dead-lettered as a repeated event_id."""

    @property
    def duplicates(self) -> int:
        """Events left out as repeats of an event_id already counted."""
        return len(self.repeated)

    @property
    def invalid(self) -> Counter[str]:
        """Refusals per reason."""
        return Counter(reason for _, reason in self.refused)

    @property
    def states(self) -> dict[str, Signals]:
        """Each user's signals (users with at least one counted event)."""
        return {user: s.signals for user, s in self.stored.items() if s.signals is not None}

    def cards(
        self, now_ms: int, params: ModelParams, curve: Curve = DEFAULT_CURVE
    ) -> dict[str, ScoreCard]:
        """Every user's score card at `now_ms`, graded on `curve`, as the worker scores it."""
        users = ((PARTITION, user, signals) for user, signals in self.states.items())
        return {card.user_id: card for card in score_update(users, now_ms, params, curve).cards}


def replay_states(
    events: Iterable[tuple[Kind, object]],
    params: ModelParams,
    now_ms: int,
    curve: Curve = DEFAULT_CURVE,
) -> ReplayResult:
    """Run `events` (kind, decoded JSON value) through the worker's step, actors graded on
    `curve`."""
    replay = _Replay(params, now_ms, curve)
    stream = records(events)
    while batch := list(islice(stream, WORKER_BATCH_EVENTS)):
        replay.step(batch)
    return replay.result


def replay(
    events: Iterable[tuple[Kind, object]], params: ModelParams, now_ms: int
) -> dict[str, ScoreCard]:
    """Score cards at `now_ms` for every user who received at least one counted event."""
    return replay_states(events, params, now_ms).cards(now_ms, params)


@dataclass(slots=True)
class _Replay:
    params: ModelParams
    now_ms: int
    curve: Curve
    result: ReplayResult = field(default_factory=ReplayResult)
    seen: dict[str, str] = field(default_factory=dict)
    """The deduplicator's memory: event id -> the position token it was first seen at."""

    def step(self, batch: list[Record]) -> None:
        """One batch as the executor carries it out: its parts folded in turn, then one card per
        user it changed."""
        result = self.result
        unscored: dict[str, StoredUser] = {}
        parts = plan.triage_in_chunks(
            batch,
            self.now_ms,
            self.params.event_rules,
            ROUTING,
            _the_partition,
            WORKER_BATCH_EVENTS,
        )
        for part in parts:
            for refusal in part.dead_letters:
                record = batch[refusal.message]
                where = Position(record.topic, record.partition, record.offset, refusal.index)
                result.refused.append((where, refusal.reason))
            states = {
                a.event.target_id: result.stored.setdefault(a.event.target_id, StoredUser())
                for a in part.accepted
            }
            unscored.update(states)
            fold = plan.PartFold(part.accepted, states)
            first = [self._first_sighting(event_id, token) for event_id, token in fold.sightings()]
            stored = fold.stored_actors(first, unscored)
            raws = [result.raws.get(actor) for actor in stored]
            folded = fold.fold(raws, unscored, self.now_ms, self.params, self.curve)
            result.repeated += [a.position for a in folded.duplicates]
            result.accepted += len(folded.counted)
        users = ((PARTITION, user, state.signals) for user, state in unscored.items())
        for card in score_update(users, self.now_ms, self.params, self.curve).cards:
            result.raws[card.user_id] = card.raw
            result.scores[card.user_id] = card.score

    def _first_sighting(self, event_id: str, token: str) -> bool:
        """app/store/first_sightings.lua's rule: an id counts at the position it was first seen
        at (again there: a replay), not at any other."""
        return self.seen.setdefault(event_id, token) == token


def _the_partition(user_id: str, partitions: int) -> int:
    """Every user's partition: the replay has one."""
    return PARTITION


@dataclass(frozen=True, slots=True)
class PopulationStats:
    """How scores spread over the active users (those with at least one accepted event)."""

    active: int
    median: float
    top_5pct_min: float
    top_0_1pct_min: float
    max: float
    styles: dict[str, int]


class Scored(Protocol):
    """Anything with a score and a style: a ScoreCard, or a score read back from the store."""

    @property
    def score(self) -> float: ...

    @property
    def style(self) -> str: ...


def population_stats(cards: Mapping[str, Scored]) -> PopulationStats:
    """Median and top-percentile thresholds: "top 5% score >= x" means the lowest score among
    the best ceil(5% of active users) is x."""
    if not cards:
        raise ValueError("no active users")
    scores = sorted((card.score for card in cards.values()), reverse=True)
    n = len(scores)
    return PopulationStats(
        active=n,
        median=statistics.median(scores),
        top_5pct_min=scores[_top_count(n, 0.05) - 1],
        top_0_1pct_min=scores[_top_count(n, 0.001) - 1],
        max=scores[0],
        styles=dict(sorted(Counter(card.style for card in cards.values()).items())),
    )


def _top_count(n: int, share: float) -> int:
    return max(1, -(-n * round(share * 100_000) // 100_000))
