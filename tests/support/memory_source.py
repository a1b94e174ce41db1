"""An in-memory input topic that drives the worker's gate, executor, state and commit protocol
through crashes and resumes in one process, without a broker (as Bytewax's `testing.py` does).

What runs is the worker's own code: Faust's consumer bookkeeping in a real (unstarted)
`WorkerConsumer` with its `getmany`, commit guard and Faust's `force_commit`; the in-order gate;
`BatchScorer` (Redis faked at its edges, as in tests/unit/streams/test_executor.py); the
write-behind `StateCache` over a durable in-memory table; and `Checkpoint.commit`. What is
simulated is Kafka: each partition's log, read_committed fetches from a position, committed
offsets, and the faults the scripts mark:

* `ABORT`: the worker process dies when its fetch reaches this point, the first time only
  (nothing since the last commit survives but the table and the committed offsets);
* `LOST`: the next record is not delivered by the first fetch that reaches it (a delivery
  Faust lost), so a later one shows the gate a hole;
* `marker()` and `aborted(...)`: a transaction marker and an aborted transactional record,
  which take an offset and which read_committed never delivers.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import faust
import orjson
from faust.types import TP

from app.kafka.topics import partition_for
from app.scoring.events import Kind
from streams import faust_compat
from streams.commit import Checkpoint
from streams.executor import SCORE_WRITE_TASK, BatchScorer
from streams.ordering import STALLED_AFTER_S, InOrderGate
from streams.state import StateCache
from tests.support.executor import Redis, batch_scorer

TOPIC = "likes"
PARTITIONS = 4
NOW_MS = 1_767_225_600_000
"""The clock of every run (events are an hour older)."""

ABORT = "ABORT"
LOST = "LOST"


@dataclass(frozen=True)
class Entry:
    """One offset of a partition's log: a record, or what read_committed skips."""

    value: bytes | None  # None: a transaction marker
    key: bytes = b""
    aborted: bool = False

    @property
    def delivered(self) -> bool:
        return self.value is not None and not self.aborted


def like(event_id: str, target: str, actor: str) -> Entry:
    """A like of `target` by `actor` (its own engager), as producers write it."""
    doc = {
        "event_id": event_id,
        "network": "twitter",
        "actor_id": actor,
        "target_id": target,
        "post_id": None,
        "ts": NOW_MS - 3_600_000,
    }
    return Entry(orjson.dumps(doc), target.encode())


def marker() -> Entry:
    return Entry(None)


def aborted(entry: Entry) -> Entry:
    return Entry(entry.value, entry.key, aborted=True)


class MemoryTopic:
    """Each partition's log, built from a script of entries and fault markers."""

    def __init__(self, scripts: Mapping[int, Sequence[Entry | str]]) -> None:
        self.logs: dict[int, list[Entry]] = {p: [] for p in range(PARTITIONS)}
        self.aborts: set[tuple[int, int]] = set()  # (partition, offset) a crash happens before
        self.losses: set[tuple[int, int]] = set()
        for partition, script in scripts.items():
            for item in script:
                position = (partition, len(self.logs[partition]))
                if item == ABORT:
                    self.aborts.add(position)
                elif item == LOST:
                    self.losses.add(position)
                else:
                    self.logs[partition].append(cast(Entry, item))

    def tp(self, partition: int) -> TP:
        return TP(TOPIC, partition)

    def committed_records(self) -> list[Entry]:
        return [e for log in self.logs.values() for e in log if e.delivered]


class Crashed(Exception):
    """The worker process died here."""


@dataclass
class Broker:
    """Kafka's side of a run: committed offsets, which outlive every worker process."""

    topic: MemoryTopic
    committed: dict[TP, int] = field(default_factory=dict)
    commits: int = 0
    die_at_commit: int | None = None  # the Nth commit kills the worker before Kafka hears it

    async def commit(self, consumer: Any, offsets: Mapping[TP, int]) -> bool:
        self.commits += 1
        if self.commits == self.die_at_commit:
            raise Crashed(f"killed at commit {self.commits}")
        self.committed.update(offsets)
        return True

    async def delivered(self, ranges: Mapping[Any, tuple[int, int]]) -> dict[Any, set[int]]:
        """The read_committed reader's answer: which offsets of `ranges` are records."""
        log = self.topic.logs
        return {
            tp: {
                o
                for o in range(first, last + 1)
                if o < len(log[tp.partition]) and log[tp.partition][o].delivered
            }
            for tp, (first, last) in ranges.items()
        }


class MemoryConsumer(faust_compat.WorkerConsumer):
    """The worker consumer, its fetches and seeks served by the in-memory topic."""

    broker: Broker
    positions: dict[TP, int]
    fetch_size: int

    def assignment(self) -> set[TP]:
        return {self.broker.topic.tp(p) for p in range(PARTITIONS)}

    def readable_end(self, tp: TP) -> int | None:
        return len(self.broker.topic.logs[tp.partition])

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        self.note_seek(partitions)
        self.positions.update(partitions)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        self.note_seek(self.assignment())
        offsets = {tp: self.broker.committed.get(tp, 0) for tp in self.assignment()}
        self.positions.update(offsets)
        return offsets

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        return dict.fromkeys(partitions, 0)

    async def flush_producer(self) -> None:
        """Nothing is produced here but the changelog, which the state flush delivers."""

    def fetch(self) -> dict[TP, list[Any]]:
        """Up to `fetch_size` read_committed records of each partition from its position;
        raises `Crashed` at an `ABORT` it reaches (once), and loses each `LOST` record once."""
        topic = self.broker.topic
        fetched: dict[TP, list[Any]] = {}
        for tp in self.fetching():
            log, start = topic.logs[tp.partition], self.positions.get(tp, 0)
            records = []
            for offset in range(start, min(start + self.fetch_size, len(log))):
                if (tp.partition, offset) in topic.aborts:
                    topic.aborts.discard((tp.partition, offset))
                    raise Crashed(f"ABORT before {tp} offset {offset}")
                lost = (tp.partition, offset) in topic.losses
                topic.losses.discard((tp.partition, offset))
                if log[offset].delivered and not lost:
                    records.append(kafka_record(tp, offset, log[offset]))
                self.positions[tp] = offset + 1
            if records:
                fetched[tp] = records
        self.note_fetch()
        return fetched


def kafka_record(tp: TP, offset: int, entry: Entry) -> SimpleNamespace:
    """A record as aiokafka's fetcher returns it."""
    return SimpleNamespace(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=None,
        timestamp_type=0,
        headers=[],
        key=entry.key,
        value=entry.value,
        checksum=None,
        serialized_key_size=len(entry.key),
        serialized_value_size=len(entry.value or b""),
    )


class DurableTable:
    """The signal table as RocksDB plus its changelog keep it across a crash: a write is kept
    once delivered (the flush before a commit, or an eviction), else lost with the process."""

    def __init__(self) -> None:
        self.data: dict[tuple[int, bytes], bytes] = {}

    def process_view(self) -> _ProcessTable:
        return _ProcessTable(self)


class _ProcessTable:
    """One worker process's `TableAccess`: writes reach the durable table on `deliver`."""

    def __init__(self, durable: DurableTable) -> None:
        self._durable = durable
        self._pending: dict[tuple[int, bytes], bytes] = {}

    def read(self, partition: int, key: bytes) -> bytes | None:
        found = self._pending.get((partition, key))
        return found if found is not None else self._durable.data.get((partition, key))

    def write(self, partition: int, key: bytes, value: bytes) -> None:
        self._pending[(partition, key)] = value

    async def deliver(self) -> None:
        self._durable.data.update(self._pending)
        self._pending = {}


class Clock:
    """The gate's clock: each reseek timer tick moves it on by the stall threshold."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Worker:
    """One worker process: Faust's consumer, the gate, the executor and the state cache."""

    consumer: MemoryConsumer
    gate: InOrderGate
    scorer: BatchScorer
    clock: Clock

    async def run_once(self) -> None:
        """One fetch through the agent, Faust's commit, then a tick of the reseek timer."""
        batch = [SimpleNamespace(message=m) async for _, m in self.consumer.getmany(timeout=0.0)]
        if batch:
            await self.scorer.process(cast(Any, batch))
            for event in batch:  # take_events acknowledges the whole batch, admitted or not
                faust_compat.acknowledge(self.consumer, event.message.tp, event.message.offset)
        await self.consumer.force_commit()
        self.clock.now += STALLED_AFTER_S
        await self.gate.find_stalled()
        await self.gate.seek_holes()


async def start_worker(
    broker: Broker, table: DurableTable, redis: Redis, generation: int, fetch_size: int
) -> Worker:
    """A new worker process taking every partition over from the committed offsets."""
    app = faust.App(f"memory-{generation}", broker="kafka://127.0.0.1:1")
    app.transport = faust_compat.worker_transport(
        app, inline_delivery=False, fetch=faust_compat.FAUST_FETCH
    )
    app.transport.Consumer = MemoryConsumer
    consumer = app.consumer
    assert isinstance(consumer, MemoryConsumer)
    consumer.broker, consumer.positions, consumer.fetch_size = broker, {}, fetch_size
    consumer.kafka_thread.getmany = _served_by(consumer)  # type: ignore[method-assign]
    consumer.highwater = lambda tp: 0  # type: ignore[method-assign]
    states = StateCache(table.process_view(), capacity=1000)
    states.assign(range(PARTITIONS), generation)
    # Recovery, as Faust runs it: pause, resume (held until the flow), seek, resume the flow.
    consumer.pause_partitions(consumer.assignment())
    consumer.resume_partitions(consumer.assignment())
    await consumer.perform_seek()
    consumer.resume_flow()
    clock = Clock()
    gate = InOrderGate(
        lambda: consumer, lambda: generation, cast(Any, broker), input_topics={TOPIC}, clock=clock
    )
    scorer = batch_scorer(
        states,
        redis,
        kinds={TOPIC: Kind.LIKE},
        partitions=PARTITIONS,
        part_events=100,
        now_ms=NOW_MS,
        gate=gate,
    )
    faust_compat.use_checkpoint(app, Checkpoint(scorer.settle, states.flush, []))
    return Worker(consumer, gate, scorer, clock)


def _served_by(consumer: MemoryConsumer) -> Callable[..., Any]:
    async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:  # noqa: ASYNC109
        return consumer.fetch()

    return getmany


@dataclass
class Run:
    """What a run left: the cards in Redis, the crashes it went through, Kafka's commits."""

    redis: Redis
    crashes: list[str]
    broker: Broker


async def run_to_the_end(
    topic: MemoryTopic, *, fetch_size: int = 3, die_at_commit: int | None = None
) -> Run:
    """Run workers until every partition is committed to its end, a new one after each crash."""
    broker, table, redis = Broker(topic, die_at_commit=die_at_commit), DurableTable(), Redis()
    undo = faust_compat.replace_offset_commit(
        lambda original: lambda consumer, offsets: broker.commit(consumer, offsets)
    )
    crashes: list[str] = []
    ends = {topic.tp(p): len(log) for p, log in topic.logs.items()}
    try:
        for generation in range(1, 20):
            worker = await start_worker(broker, table, redis, generation, fetch_size)
            try:
                for _ in range(1000):
                    await worker.run_once()
                    if all(broker.committed.get(tp, 0) >= end for tp, end in ends.items()):
                        return Run(redis, crashes, broker)
                raise AssertionError(f"no progress: committed {broker.committed}, ends {ends}")
            except Crashed as crash:
                crashes.append(str(crash))
                for task in asyncio.all_tasks():  # the process's score write dies with it
                    if task.get_name() == SCORE_WRITE_TASK:
                        task.cancel()
        raise AssertionError(f"still crashing after {crashes}")
    finally:
        undo()


def actors(run: Run) -> dict[str, set[str]]:
    """Each scored user's actors as its card in Redis lists them (at most five)."""
    return {user: {a.actor_id for a in card.top_actors} for user, card in run.redis.cards.items()}


def raws(run: Run) -> dict[str, float]:
    """Each scored user's raw score: an event counted twice or lost changes it."""
    return {user: card.raw for user, card in run.redis.cards.items()}


def expected_actors(entries: Iterable[Entry]) -> dict[str, set[str]]:
    """Per target, the actors of the records read_committed delivers."""
    found: defaultdict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.delivered and entry.value is not None:
            doc = orjson.loads(entry.value)
            found[doc["target_id"]].add(doc["actor_id"])
    return dict(found)


def partition_of(user: str) -> int:
    return partition_for(user, PARTITIONS)
