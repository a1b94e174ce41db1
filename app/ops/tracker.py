"""From polls to dashboard figures: per-partition history, rates, statuses and the hour of charts.

The tracker does no I/O: the monitor hands it one `Observation` per poll (what Kafka said at that
moment) and gets back a `Snapshot`, the complete state the page, `/ops/lag`, `/metrics` and
`clout lag` show. Keeping it pure lets tests drive it with made-up polls and exact timestamps.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from app.ops.lag import (
    LagEstimate,
    LagMethod,
    catch_up_seconds,
    consumer_position,
    lag_seconds,
    rate_per_s,
)
from app.ops.status import Status, WindowSample, evaluate_group, evaluate_partition, select_window
from app.store.health import RedisHealth

# End-offset history kept per partition for lag-in-seconds. Flat runs collapse to two points, so
# an idle partition costs nothing; a busy one adds a point per poll (about 2 h at 2 s polls).
END_HISTORY_POINTS = 4096


@dataclass(frozen=True, slots=True)
class PartitionObservation:
    """What one poll learned about one partition; `error` says why offsets are missing."""

    topic: str
    partition: int
    log_start: int | None = None
    end: int | None = None
    committed: int | None = None
    owner: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FeedLag:
    """A score feed topic and one consumer group reading it (`group` None: nobody commits).

    `end` is the sum of the topic's end offsets; `lag` the group's messages still to read.
    """

    topic: str
    partitions: int
    end: int
    group: str | None = None
    lag: int | None = None


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A live member of the consumer group and how many partitions it owns."""

    member_id: str
    client_id: str
    host: str
    partitions: int


@dataclass(frozen=True, slots=True)
class Observation:
    """One poll of the group: its state, members and every partition it consumes.

    `assignments_known` is False when members' assignments could not be decoded; ownership is
    then inferred from there being members at all. `produced_ends` holds, per watched topic
    (the dead letters), the sum of its partitions' end offsets. `feed` lists the score feed's
    topics with the lag of each consumer group that reads them.
    """

    ts_ms: int
    group: str
    group_state: str | None
    members: tuple[MemberInfo, ...]
    partitions: tuple[PartitionObservation, ...]
    produced_ends: Mapping[str, int] = field(default_factory=dict)
    assignments_known: bool = True
    feed: tuple[FeedLag, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionView:
    """One row of the partition table."""

    topic: str
    partition: int
    log_start: int | None
    end: int | None
    committed: int | None
    lag: int | None
    lag_seconds: float | None
    lag_seconds_method: str | None
    consume_rate: float | None
    produce_rate: float | None
    eta_s: float | None
    owner: str | None
    status: Status
    warming_up: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class TopicView:
    """A topic's partitions summed up; status is its worst partition's."""

    topic: str
    partitions: int
    lag: int
    max_lag_seconds: float | None
    consume_rate: float | None
    produce_rate: float | None
    status: Status


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    """One point of the last hour's charts."""

    ts_ms: int
    total_lag: int
    max_lag_seconds: float | None
    consume_rate: float | None
    produce_rate: float | None
    dead_letters_per_min: float | None

    def as_list(self) -> list[Any]:
        """Compact JSON form: [ts_ms, total_lag, max_lag_seconds, consume, produce, dlq/min]."""
        return [
            self.ts_ms,
            self.total_lag,
            self.max_lag_seconds,
            self.consume_rate,
            self.produce_rate,
            self.dead_letters_per_min,
        ]


HISTORY_FIELDS = (
    "ts_ms",
    "total_lag",
    "max_lag_seconds",
    "consume_rate",
    "produce_rate",
    "dead_letters_per_min",
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the dashboard shows at one moment; `to_dict()` is the `/ops/lag` document."""

    group: str
    ts_ms: int | None
    status: Status
    group_state: str | None
    members: tuple[MemberInfo, ...]
    partitions: tuple[PartitionView, ...]
    topics: tuple[TopicView, ...]
    total_lag: int
    max_lag_seconds: float | None
    consume_rate: float | None
    produce_rate: float | None
    eta_s: float | None
    events_per_s: float | None
    dead_letters_per_min: float | None
    redis: RedisHealth | None
    input_topics: tuple[str, ...]
    dead_letter_topic: str
    poll_interval_s: float
    window_s: float
    polls: int
    last_success_ms: int | None
    poll_error: str | None = None
    feed: tuple[FeedLag, ...] = ()

    @property
    def kafka_up(self) -> bool:
        """Did the latest poll reach Kafka?"""
        return self.polls > 0 and self.poll_error is None

    def status_counts(self) -> dict[str, int]:
        """How many partitions are in each status (all statuses listed, zeros included)."""
        counts = {status.value: 0 for status in Status}
        for row in self.partitions:
            counts[row.status.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (plain types only; statuses as their names)."""
        return {
            "group": self.group,
            "ts_ms": self.ts_ms,
            "status": self.status.value,
            "status_code": self.status.code,
            "group_state": self.group_state,
            "members": [asdict(member) for member in self.members],
            "summary": {
                "partitions": len(self.partitions),
                "status_counts": self.status_counts(),
                "total_lag": self.total_lag,
                "max_lag_seconds": self.max_lag_seconds,
                "consume_rate": self.consume_rate,
                "produce_rate": self.produce_rate,
                "eta_s": self.eta_s,
            },
            "pipeline": {
                "events_per_s": self.events_per_s,
                "dead_letters_per_min": self.dead_letters_per_min,
                "redis": None if self.redis is None else asdict(self.redis),
            },
            "topics": [{**asdict(topic), "status": topic.status.value} for topic in self.topics],
            "partitions": [{**asdict(row), "status": row.status.value} for row in self.partitions],
            "feed": [asdict(row) for row in self.feed],
            "poll": {
                "kafka_up": self.kafka_up,
                "interval_s": self.poll_interval_s,
                "window_s": self.window_s,
                "polls": self.polls,
                "last_success_ms": self.last_success_ms,
                "error": self.poll_error,
            },
            "config": {
                "input_topics": list(self.input_topics),
                "dead_letter_topic": self.dead_letter_topic,
            },
        }


@dataclass(slots=True)
class _PartitionState:
    samples: deque[WindowSample] = field(default_factory=deque)
    ends: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=END_HISTORY_POINTS))
    last_good: PartitionView | None = None


class LagTracker:
    """Keeps the recent history of every partition and computes snapshots from it."""

    def __init__(
        self,
        *,
        group: str,
        input_topics: Sequence[str],
        dead_letter_topic: str,
        poll_interval_s: float = 2.0,
        window_s: float = 60.0,
        rate_window_s: float = 30.0,
        history_s: float = 3600.0,
        allowed_lag: int = 0,
    ) -> None:
        self.group = group
        self.input_topics = tuple(input_topics)
        self.dead_letter_topic = dead_letter_topic
        self.poll_interval_s = poll_interval_s
        self.window_s = window_s
        self.rate_window_s = rate_window_s
        self.history_s = history_s
        self.allowed_lag = allowed_lag
        self._partitions: dict[tuple[str, int], _PartitionState] = {}
        self._produced: dict[str, deque[tuple[int, int]]] = {}
        self._history: deque[HistoryPoint] = deque()
        self._polls = 0
        self._last_success_ms: int | None = None
        self._snapshot = Snapshot(
            group=group,
            ts_ms=None,
            status=Status.OK,
            group_state=None,
            members=(),
            partitions=(),
            topics=(),
            total_lag=0,
            max_lag_seconds=None,
            consume_rate=None,
            produce_rate=None,
            eta_s=None,
            events_per_s=None,
            dead_letters_per_min=None,
            redis=None,
            input_topics=self.input_topics,
            dead_letter_topic=dead_letter_topic,
            poll_interval_s=poll_interval_s,
            window_s=window_s,
            polls=0,
            last_success_ms=None,
        )

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot (an empty one before the first poll)."""
        return self._snapshot

    def history(self) -> list[HistoryPoint]:
        """The chart points of the last `history_s` seconds, oldest first."""
        return list(self._history)

    def observe(self, observation: Observation, redis: RedisHealth | None = None) -> Snapshot:
        """Fold one successful poll into the history and return the new snapshot."""
        now = observation.ts_ms
        self._polls += 1
        self._last_success_ms = now
        seen = {(p.topic, p.partition) for p in observation.partitions}
        for key in [key for key in self._partitions if key not in seen]:
            del self._partitions[key]

        rows = tuple(
            self._observe_partition(p, observation)
            for p in sorted(observation.partitions, key=lambda p: (p.topic, p.partition))
        )
        dead_letters_rate = self._observe_produced(observation)
        topics = _topic_views(rows)
        known = [row for row in rows if row.lag is not None]
        total_lag = sum(row.lag or 0 for row in known)
        consume = _sum_or_none(row.consume_rate for row in known)
        produce = _sum_or_none(row.produce_rate for row in known)
        inputs = [row for row in known if row.topic in self.input_topics]
        snapshot = Snapshot(
            group=self.group,
            ts_ms=now,
            status=evaluate_group(row.status for row in rows),
            group_state=observation.group_state,
            members=observation.members,
            partitions=rows,
            topics=topics,
            total_lag=total_lag,
            max_lag_seconds=_max_or_none(row.lag_seconds for row in known),
            consume_rate=consume,
            produce_rate=produce,
            eta_s=catch_up_seconds(total_lag, consume, produce),
            events_per_s=_sum_or_none(row.consume_rate for row in inputs),
            dead_letters_per_min=None if dead_letters_rate is None else dead_letters_rate * 60.0,
            redis=redis,
            input_topics=self.input_topics,
            dead_letter_topic=self.dead_letter_topic,
            poll_interval_s=self.poll_interval_s,
            window_s=self.window_s,
            polls=self._polls,
            last_success_ms=now,
            feed=observation.feed,
        )
        self._history.append(
            HistoryPoint(
                ts_ms=now,
                total_lag=total_lag,
                max_lag_seconds=snapshot.max_lag_seconds,
                consume_rate=consume,
                produce_rate=produce,
                dead_letters_per_min=snapshot.dead_letters_per_min,
            )
        )
        while self._history and self._history[0].ts_ms < now - self.history_s * 1000.0:
            self._history.popleft()
        self._snapshot = snapshot
        return snapshot

    def observe_failure(self, ts_ms: int, error: str, redis: RedisHealth | None = None) -> Snapshot:
        """A poll that could not reach Kafka: keep the last figures, flag them, status ERR."""
        self._polls += 1
        self._snapshot = replace(
            self._snapshot,
            status=Status.ERR,
            poll_error=error,
            polls=self._polls,
            redis=redis if redis is not None else self._snapshot.redis,
        )
        return self._snapshot

    def _observe_partition(
        self, observed: PartitionObservation, observation: Observation
    ) -> PartitionView:
        state = self._partitions.setdefault((observed.topic, observed.partition), _PartitionState())
        if observed.error is not None or observed.end is None or observed.log_start is None:
            error = observed.error or "offsets unavailable"
            last = state.last_good
            return PartitionView(
                topic=observed.topic,
                partition=observed.partition,
                log_start=None if last is None else last.log_start,
                end=None if last is None else last.end,
                committed=observed.committed if last is None else last.committed,
                lag=None,
                lag_seconds=None,
                lag_seconds_method=None,
                consume_rate=None,
                produce_rate=None,
                eta_s=None,
                owner=observed.owner,
                status=Status.ERR,
                warming_up=False,
                error=error,
            )
        now = observation.ts_ms
        position = consumer_position(observed.committed, observed.log_start)
        estimate = lag_seconds(state.ends, position, observed.end, now)
        _append_end(state.ends, now, observed.end)
        sample = WindowSample(now, position, observed.end)
        state.samples.append(sample)
        _prune(state.samples, max(self.window_s, self.rate_window_s))

        window, complete = select_window(state.samples, self.window_s)
        if observation.assignments_known:
            owned = observed.owner is not None
        else:
            owned = bool(observation.members)
        status = evaluate_partition(
            window, complete=complete, owned=owned, allowed_lag=self.allowed_lag
        )
        rate_samples, _ = select_window(state.samples, self.rate_window_s)
        consume = rate_per_s([(s.ts_ms, s.position) for s in rate_samples])
        produce = rate_per_s([(s.ts_ms, s.end) for s in rate_samples])
        view = PartitionView(
            topic=observed.topic,
            partition=observed.partition,
            log_start=observed.log_start,
            end=observed.end,
            committed=observed.committed,
            lag=sample.lag,
            lag_seconds=_lag_seconds_value(estimate),
            lag_seconds_method=estimate.method.value,
            consume_rate=consume,
            produce_rate=produce,
            eta_s=catch_up_seconds(sample.lag, consume, produce),
            owner=observed.owner,
            status=status,
            warming_up=not complete,
            error=None,
        )
        state.last_good = view
        return view

    def _observe_produced(self, observation: Observation) -> float | None:
        rate: float | None = None
        for topic, total in observation.produced_ends.items():
            points = self._produced.setdefault(topic, deque())
            points.append((observation.ts_ms, total))
            while len(points) > 1 and points[1][0] <= observation.ts_ms - self.rate_window_s * 1e3:
                points.popleft()
            if topic == self.dead_letter_topic:
                rate = rate_per_s(list(points))
        return rate


def _lag_seconds_value(estimate: LagEstimate) -> float:
    return 0.0 if estimate.method is LagMethod.CAUGHT_UP else round(estimate.seconds, 3)


def _append_end(ends: deque[tuple[int, int]], ts_ms: int, end: int) -> None:
    """Record an end offset, collapsing flat runs to their first and last points."""
    if len(ends) >= 2 and ends[-1][1] == end and ends[-2][1] == end:
        ends[-1] = (ts_ms, end)
    else:
        ends.append((ts_ms, end))


def _prune(samples: deque[WindowSample], keep_s: float) -> None:
    """Drop samples no window can use, keeping one at or before the oldest cutoff as anchor."""
    cutoff = samples[-1].ts_ms - keep_s * 1000.0
    while len(samples) > 1 and samples[1].ts_ms <= cutoff:
        samples.popleft()


def _sum_or_none(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def _max_or_none(values: Any) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _topic_views(rows: Sequence[PartitionView]) -> tuple[TopicView, ...]:
    by_topic: dict[str, list[PartitionView]] = {}
    for row in rows:
        by_topic.setdefault(row.topic, []).append(row)
    return tuple(
        TopicView(
            topic=topic,
            partitions=len(members),
            lag=sum(row.lag or 0 for row in members),
            max_lag_seconds=_max_or_none(row.lag_seconds for row in members),
            consume_rate=_sum_or_none(row.consume_rate for row in members),
            produce_rate=_sum_or_none(row.produce_rate for row in members),
            status=max((row.status for row in members), key=lambda status: status.code),
        )
        for topic, members in sorted(by_topic.items())
    )
