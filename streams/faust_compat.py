"""THE wall: every access to a private member of faust, mode or aiokafka is in this module.

ruff's SLF rules forbid private access everywhere else (tests included); `PRIVATES` lists each
private this module relies on with the shape it relies on, and tests/unit/streams/
test_faust_compat.py's canary fails when an installed version lacks one. `require_pinned_libraries`
refuses to start on versions other than the ones these were read against.

What Clout needs that faust-streaming 0.15.3 does not offer publicly, and why:

* the consumer's offset bookkeeping (`_committed_offset`, `_acked`, `_acked_index`) and its
  choice of the offset to commit (`_new_offset`, `_add_gap`), for the in-order gate: Faust
  commits past messages no stream processed (faust-streaming #606, open PR #707), and a jump in
  offsets counts as processed (`_add_gap`);
* Faust's commit (`_commit_offsets`) replaced by the commit protocol (streams/commit.py), so
  the write-behind state is in the table and its changelog before any offset that produced it
  reaches Kafka;
* the delivery defects of Faust's fetch loop, fixed in `WorkerConsumer` where they arise
  (faust-streaming #166, #175, #471, #629, #640: stalls without a root cause;
  robinhood/faust#115: records dropped below the read offset): a stale batch after a seek (A),
  stream partitions resumed before recovery's seek (B), partitions skipped by `getmany` (C),
  and a seek made from the wrong thread (D);
* a read_committed consumer with fetch batching (aiokafka's `_isolation_level`,
  `_fetch_min_bytes`, `_fetch_max_wait_ms`), the last stable offset of a partition, the aiokafka
  producer inside Faust's (`_ensure_producer`), a table partition's database
  (`_db_for_partition`), and the fencing of a paused worker (`FencedTable`, `FencedRocksDBStore`).
"""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
    MutableMapping,
)
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.stores import STORES
from faust.stores import memory as faust_memory
from faust.stores import rocksdb as faust_rocksdb
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message
from faust.utils.functional import consecutive_numbers
from mode.services import WaitResults

from app.step.stored_user import supersedes
from streams import metrics
from streams.commit import Checkpoint
from streams.record_batches import Records, SendRecords

log = logging.getLogger(__name__)

PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}
"""The distributions whose privates this module was written against, at these versions.

Read with `importlib.metadata`: mode-streaming's `mode.__version__` says 0.0.1."""


def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution` (None when it is not installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def require_pinned_libraries() -> None:
    """Raise unless faust-streaming, mode-streaming and aiokafka are the pinned versions: a
    silently ineffective workaround would lose the guarantees in docs/guarantees.md."""
    wrong = {
        name: installed_version(name)
        for name, pinned in PINNED.items()
        if installed_version(name) != pinned
    }
    if wrong:
        found = ", ".join(f"{name} {version}" for name, version in wrong.items())
        raise RuntimeError(
            f"Clout needs {PINNED} (streams/faust_compat.py reaches into their internals); "
            f"installed: {found}"
        )


@dataclass(frozen=True, slots=True)
class Private:
    """A private member Clout relies on: a method whose parameters (after self) are these, or
    an attribute every instance has (`parameters` None)."""

    owner: type
    name: str
    parameters: tuple[str, ...] | None = None


PRIVATES: tuple[Private, ...] = (
    Private(Consumer, "_committed_offset"),
    Private(Consumer, "_acked"),
    Private(Consumer, "_acked_index"),
    Private(Consumer, "_read_offset"),
    Private(Consumer, "_buffered_partitions"),
    Private(Consumer, "_new_offset", ("tp",)),
    Private(Consumer, "_add_gap", ("tp", "offset_from", "offset_to")),
    Private(Consumer, "_commit_offsets", ("offsets", "start_new_transaction")),
    Private(Consumer, "_wait_next_records", ("timeout",)),
    Private(Consumer, "_is_changelog_tp", ("tp",)),
    Private(Consumer, "_get_active_partitions", ()),
    Private(Consumer, "_seek", ("partition", "offset")),
    Private(ThreadDelegateConsumer, "_thread"),
    Private(ThreadDelegateConsumer, "_commit", ("offsets",)),
    Private(ThreadDelegateConsumer, "_new_consumer_thread", ()),
    Private(ThreadDelegateConsumer, "_getmany", ("active_partitions", "timeout")),
    Private(faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", ("transport",)),
    Private(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", ()),
    Private(faust_aiokafka.AIOKafkaConsumerThread, "_seek_wait", ("consumer", "partitions")),
    Private(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_fetch_records",
        ("consumer", "active_partitions", "timeout", "max_records"),
    ),
    Private(faust_aiokafka.Producer, "_ensure_producer", ()),
    Private(faust_rocksdb.Store, "_db_for_partition", ("partition",)),
    Private(AIOKafkaConsumer, "_isolation_level"),
    Private(AIOKafkaConsumer, "_fetch_min_bytes"),
    Private(AIOKafkaConsumer, "_fetch_max_wait_ms"),
    # used by app/ops/collector.py, which may not import this module (app never imports streams)
    Private(AIOKafkaAdminClient, "_send_request_to_node", ("node_id", "request")),
)


def shape_of(private: Private) -> tuple[str, ...] | None:
    """`private`'s parameters after self as installed (None for an attribute; raises
    AttributeError when the class has no such method)."""
    if private.parameters is None:
        return None
    method = getattr(private.owner, private.name)
    return tuple(inspect.signature(method).parameters)[1:]


# -- the consumer's offset bookkeeping --------------------------------------------------------


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust last committed for `tp` (None when it has none, or it is 0)."""
    value = consumer._committed_offset.get(tp)
    return None if value is None else int(value)


def withdraw_acks(consumer: Any, tp: Any, offsets: set[int]) -> None:
    """Take back Faust's acknowledgements of `offsets` of `tp` (they were not processed)."""
    acked = consumer._acked.get(tp)
    if acked:
        acked[:] = [offset for offset in acked if offset not in offsets]
    index = consumer._acked_index.get(tp)
    if index:
        index.difference_update(offsets)


def acknowledge(consumer: Any, tp: Any, offset: int) -> None:
    """Acknowledge `offset` of `tp` as if a stream had processed it (a transaction gap)."""
    index = consumer._acked_index[tp]
    if offset not in index:
        index.add(offset)
        consumer._acked[tp].append(offset)


def commit_limits(consumer: Any) -> dict[Any, int]:
    """Per partition, the first offset Faust may not commit past (the gate's first held one)."""
    found: dict[Any, int] | None = getattr(consumer, "clout_commit_limits", None)
    if found is None:
        found = {}
        consumer.clout_commit_limits = found
    return found


def delivered_past(consumer: Any, tp: Any, offset: int) -> bool:
    """Whether Faust's fetch loop has handed the streams a message of `tp` after `offset`
    (its read offset is the last one it delivered, or just after a seek the one sought to)."""
    read: int | None = dict.get(consumer._read_offset, tp)
    return read is not None and read > offset


def held_back(consumer: Any, tp: Any) -> bool:
    """Whether Faust has stopped fetching `tp` because the stream's buffer is full
    (`Consumer.on_buffer_full`; it fetches again once the buffer drains)."""
    return tp in consumer._buffered_partitions


def guarded_new_offset(consumer: Any, tp: Any) -> int | None:
    """The offset to commit for `tp`: after contiguous acknowledgements from the committed
    offset only, and never past `commit_limits(consumer)[tp]`.

    Faust's own `_new_offset` commits past messages no stream processed when a gap (a jump in
    offsets) or an out-of-order acknowledgement lets it (faust-streaming #606, PR #707).
    """
    acked: list[int] = consumer._acked[tp]
    if not acked:
        return None
    acked.sort()
    committed = consumer._committed_offset[tp]
    if committed is not None and acked[0] > committed:
        return None  # the message at the committed offset is not acknowledged yet
    batch = list(next(consecutive_numbers(acked)))
    limit = commit_limits(consumer).get(tp)
    if limit is not None:
        batch = [offset for offset in batch if offset < limit]
        if not batch:
            return None
    acked[: len(batch)] = []
    consumer._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1


def use_checkpoint(app: faust.App, checkpoint: Checkpoint) -> None:
    """Commit `app`'s offsets through `checkpoint` (the worker consumer's `_commit_offsets`
    calls it; without one, Faust's own commit runs)."""
    app.clout_checkpoint = checkpoint  # type: ignore[attr-defined]


OffsetCommit = Callable[[Any, Mapping[TP, int]], Awaitable[bool]]
"""The step that sends an offset commit to Kafka: (consumer, offsets) -> accepted."""


def replace_offset_commit(wrap: Callable[[OffsetCommit], OffsetCommit]) -> Callable[[], None]:
    """Replace the step that sends offset commits to Kafka by `wrap(the original)`, in every
    Faust consumer of this process (a test's fault injection); returns the undo."""
    original: OffsetCommit = ThreadDelegateConsumer._commit
    ThreadDelegateConsumer._commit = wrap(original)  # type: ignore[assignment,method-assign]

    def undo() -> None:
        ThreadDelegateConsumer._commit = original  # type: ignore[assignment,method-assign]

    return undo


class FaustTableAccess:
    """`streams.state.TableAccess` over a Faust table: its RocksDB partitions, and its changelog
    written as record batches with `send`.

    A write stores the value in the partition's database at once and queues its changelog
    record; `deliver` sends every queued record, one or a few record batches per changelog
    partition, and waits until the broker has them. Faust's own `table[key] = value` would also
    send each record alone (a `FutureMessage` through its producer buffer), and draining that
    buffer held each commit for seconds (CHANGELOG.md).
    """

    def __init__(self, table: FencedTable, send: SendRecords) -> None:
        self._table = table
        self._send = send
        self._queued: dict[int, Records] = defaultdict(list)

    def read(self, partition: int, key: bytes) -> bytes | None:
        """The stored value of `key` in `partition`."""
        value: bytes | None = partition_data(self._table.data, partition).get(key)
        return value

    def write(self, partition: int, key: bytes, value: bytes) -> None:
        """Store `value` in `partition` now; queue its changelog record for `deliver`."""
        partition_data(self._table.data, partition)[key] = value
        self._queued[partition].append((key, value))

    async def deliver(self) -> None:
        """Send the queued changelog records; return once the broker has every one of them.

        Records queued meanwhile (an eviction during the wait) go with the next call. Raises if
        the producer gave up on a batch: the commit this precedes must not happen.
        """
        queued, self._queued = self._queued, defaultdict(list)
        topic = self._table.changelog_topic.get_topic_name()
        sent = [
            (partition, await self._send(topic, partition, records))
            for partition, records in queued.items()
        ]
        for partition, deliveries in sent:
            for delivery in deliveries:
                self._table.record_sent(TP(topic, partition), await delivery.last_offset())


def partition_data(store: Any, partition: int) -> MutableMapping[bytes, bytes]:
    """The mapping that holds `partition` of a table's store: its RocksDB database, or the
    memory store's one dict (keys are raw bytes in both, as the table's serializers are raw).

    Faust's own `table[key]` routes through the current event, the key and value serializers
    and a locked LRU key index: a cost per write the database's put does not have (no upstream
    report found).
    """
    if isinstance(store, faust_rocksdb.Store):
        db: MutableMapping[bytes, bytes] = store._db_for_partition(partition)
        return db
    memory: MutableMapping[bytes, bytes] = store.data
    return memory


async def drain_producer_buffer(app: Any) -> None:
    """Wait until every record queued with `send_soon` (table changelog) is handed to aiokafka.

    Faust flushes its producer before a commit since faust-streaming PR #273, but
    `ProducerBuffer.flush()`, which `_commit_offsets` relies on, gives up as soon as one
    record takes over 0.1 s to go out (`flush_atmost` returns on its first timeout) and the commit
    then proceeds with changelog records still queued: a kill at that moment lost their effects
    while their offsets were committed (found by tests/reliability/test_envelopes.py on a loaded
    machine). aiokafka's own flush, which follows, covers everything handed to it.
    """
    buffer = app.producer.buffer
    while buffer.size:
        await buffer.flush()


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The started aiokafka producer behind `app.producer` (raises if it is not started);
    Faust has no public accessor and no record-batch API (no upstream report found)."""
    producer: AIOKafkaProducer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    return producer


# -- the worker's consumer: read_committed, fetch batching, Faust's delivery defects fixed ------


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How long the broker may hold a fetch to gather `min_bytes` (aiokafka's fetch_min_bytes
    and fetch_max_wait_ms; Faust passes no min bytes, so aiokafka's 1 byte applies)."""

    min_bytes: int
    max_wait_ms: int


FAUST_FETCH = FetchPolicy(min_bytes=1, max_wait_ms=1500)
"""What Faust 0.15.3 gives aiokafka: every fetch answered as soon as one record is there."""


def fetch_settings(kafka_consumer: AIOKafkaConsumer) -> tuple[str, FetchPolicy]:
    """An aiokafka consumer's isolation level and fetch policy, as its fetcher will get them."""
    return kafka_consumer._isolation_level, FetchPolicy(
        kafka_consumer._fetch_min_bytes, kafka_consumer._fetch_max_wait_ms
    )


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, reading at isolation level read_committed by its
    transport's `FetchPolicy`, and telling the worker consumer when it seeks and fetches.

    Faust 0.15.3 reads read_committed only under `processing_guarantee="exactly_once"` and sets
    no fetch_min_bytes; aiokafka hands the consumer's `_isolation_level`, `_fetch_min_bytes` and
    `_fetch_max_wait_ms` to its fetcher at start (no upstream report or setting found). Seeks
    and fetches both run on this thread's loop, one after the other, so the order it notes them
    in is the order aiokafka saw them.
    """

    consumer: WorkerConsumer

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer: AIOKafkaConsumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"
        fetch: FetchPolicy = transport.fetch_policy
        consumer._fetch_min_bytes = fetch.min_bytes
        consumer._fetch_max_wait_ms = fetch.max_wait_ms
        return consumer

    def create_kafka_consumer(self) -> AIOKafkaConsumer:
        """A new, unstarted aiokafka consumer as this thread makes its own (for tests)."""
        return self._create_worker_consumer(self.transport)

    async def _seek_wait(self, consumer: AIOKafkaConsumer, partitions: Mapping[TP, int]) -> None:
        self.consumer.note_seek(partitions)
        await super()._seek_wait(consumer, partitions)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset (in this thread)."""

        async def seek() -> Mapping[TP, int]:
            consumer = self._ensure_consumer()
            self.consumer.note_seek(consumer.assignment())
            sought: Mapping[TP, int] = await consumer.seek_to_committed()
            return sought

        result: Mapping[TP, int] = await self.call_thread(seek)
        return result

    async def _fetch_records(
        self,
        consumer: AIOKafkaConsumer,
        active_partitions: Any,
        timeout: float | None = None,  # noqa: ASYNC109  # Faust's signature
        max_records: int | None = None,
    ) -> Any:
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        self.consumer.note_fetch()
        return records

    def last_stable_offset(self, tp: TP) -> int | None:
        """Where a read_committed fetch of `tp` ends now (None before a fetch response, or
        when `tp` is not assigned)."""
        consumer = self._ensure_consumer()
        if tp not in consumer.assignment():
            return None
        end = consumer.last_stable_offset(tp)
        return None if end is None or end < 0 else int(end)


class WorkerConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the worker's consumer thread, the commit guard, the commit
    protocol (streams/commit.py) in place of Faust's commit, and Faust's delivery defects fixed
    where they arise (each method says which).

    Faust's fetch loop (`Consumer._drain_messages`) drops a record below the partition's read
    offset, logged only at `log.dev` (robinhood/faust#115): whatever raises the read offset past a
    record Kafka will not deliver again loses it, and the partition looks stalled
    (faust-streaming #166, #175, #471, #629, #640). What reaches that loop is counted in
    `metrics.FAUST_RECORDS_DISCARDED`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clout_held: set[TP] = set()
        self._clout_seeks: defaultdict[TP, int] = defaultdict(int)
        self._clout_fetched_at: dict[TP, int] = {}
        self._clout_active: set[TP] | None = None
        self.completed_fetches = 0
        """Fetches the fetch loop has delivered (or discarded) to their end."""

    def _new_consumer_thread(self) -> WorkerConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def kafka_thread(self) -> WorkerConsumerThread:
        """The consumer thread that owns the aiokafka consumer."""
        thread = self._thread
        if not isinstance(thread, WorkerConsumerThread):
            raise TypeError(f"unexpected consumer thread {thread!r}")
        return thread

    def readable_end(self, tp: TP) -> int | None:
        """The offset after the last record a read_committed fetch of `tp` can deliver now (its
        last stable offset); None before a fetch response, or when `tp` is not assigned.

        Faust reads the last stable offset only under exactly-once (`highwater`).
        """
        return self.kafka_thread.last_stable_offset(tp)

    # -- the commit guard and the commit protocol (faust-streaming #606, PR #707) --

    def _new_offset(self, tp: TP) -> int | None:
        return guarded_new_offset(self, tp)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Not processed, so not committable (Faust's `_add_gap` acknowledges the jump). One
        # jump per transaction with transactional input (its marker): debug.
        self.log.debug("offsets of %s jumped from %d to %d", tp, offset_from - 1, offset_to)

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        checkpoint: Checkpoint | None = getattr(self.app, "clout_checkpoint", None)
        if checkpoint is None or self.in_transaction:
            committed: bool = await super()._commit_offsets(
                offsets, start_new_transaction=start_new_transaction
            )
            return committed
        return await checkpoint.commit(self, offsets)

    async def flush_producer(self) -> None:
        """Return once every record handed to Faust's producer so far is on the broker."""
        await drain_producer_buffer(self.app)
        await self.app.producer.flush()

    async def commit_assigned(self, offsets: Mapping[TP, int]) -> bool:
        """Commit `offsets` of the partitions still assigned; whether Kafka accepted it.

        Faust's `_commit_offsets` without transactions and without its producer flush (the
        checkpoint flushes first). As Faust does, the committed offsets are recorded even when
        the commit failed (faust-streaming #316); the gate reads them only as where a partition
        starts, and a later commit covers the same offsets.
        """
        assignment = self.assignment()
        committable = {tp: offset for tp, offset in offsets.items() if tp in assignment}
        if len(committable) < len(offsets):
            self.log.info("not committing revoked partitions: %r", offsets.keys() - committable)
        if not committable:
            return False
        did_commit: bool = await self._commit(committable)
        if did_commit:
            self.app.tables.on_commit(committable)
        self._committed_offset.update(committable)
        self.app.monitor.on_tp_commit(committable)
        return did_commit

    # -- B: stream partitions resume only with the flow, after recovery's seek and clear --

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        """Resume changelog partitions now; hold stream partitions until `resume_flow`.

        Faust's recovery (`on_recovery_completed`, `_resume_streams`) resumes the stream
        partitions, then awaits `perform_seek` with the flow already active, then clears every
        stream buffer (`flow_control.resume`): records fetched in that window were dropped by
        the seek's read offsets or cleared unacknowledged while aiokafka's position had passed
        them. Every recovery path calls `resume_flow` after the clear. (faust-streaming #216 and
        PR #217 moved the clear after the seek in `_resume_streams`; PR #241 fixed other races
        of a rebalance; the resume before the seek remained.)
        """
        tps = set(tps)
        streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
        self._clout_held |= streams
        super().resume_partitions(tps - streams)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        """Pause `tps`, and forget any held resume of them (a new rebalance)."""
        tps = set(tps)
        self._clout_held -= tps
        super().pause_partitions(tps)

    def resume_flow(self) -> None:
        """Resume the flow, and the stream partitions held back until now."""
        held, self._clout_held = self._clout_held, set()
        super().resume_partitions(held)
        super().resume_flow()

    def fetching(self) -> set[TP]:
        """The partitions Faust fetches now: assigned, neither paused nor held."""
        return set(self._get_active_partitions())

    # -- D: seek in the consumer's own thread --

    async def _seek(self, partition: TP, offset: int) -> None:
        # Faust's `_seek` calls aiokafka's `seek` from this loop, touching futures of the
        # consumer thread's loop; `seek_wait` runs it there.
        await self.seek_wait({partition: offset})

    # -- C: fetch the partitions active when the fetch starts, never "all of them" --

    async def _getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109  # Faust's signature
    ) -> Any:
        """Fetch the partitions active now, as a copy.

        Faust hands the consumer thread its live set of active partitions, and aiokafka's
        `Fetcher.fetched_records` reads an empty set as "every assigned partition" each time it
        looks for records. Recovery empties the set while a fetch waits (it pauses the
        changelog partitions once they are read): the fetch then returned records of the stream
        partitions, which `getmany` skips as inactive while aiokafka's position has passed them
        (records lost until the stall rule found their partitions). robinhood/faust PR #69
        fixed both (the empty set, the live reference) in 2018; faust-streaming 0.15.3 has
        neither fix.
        """
        if active_partitions is None:  # a client-only app fetches everything
            return await super()._getmany(None, timeout)
        fetch = set(active_partitions)
        if not fetch:
            return {}
        return await super()._getmany(fetch, timeout)

    # -- A and C: records Faust's fetch loop must not see, and what it drops --

    def note_seek(self, partitions: Iterable[Any]) -> None:
        """(consumer thread) A seek of `partitions` starts: records fetched so far are stale."""
        for tp in partitions:
            self._clout_seeks[TP(tp.topic, tp.partition)] += 1

    def note_fetch(self) -> None:
        """(consumer thread) A fetch returned: its records are current as of the seeks so far."""
        self._clout_fetched_at = dict(self._clout_seeks)

    async def _wait_next_records(
        self,
        timeout: float,  # noqa: ASYNC109  # Faust's signature
    ) -> tuple[Any, set[TP] | None]:
        records, active = await super()._wait_next_records(timeout)
        self._clout_active = active
        return records, None  # `getmany` then yields every record, and ours filters them

    async def getmany(
        self,
        timeout: float,  # noqa: ASYNC109  # Faust's signature
    ) -> AsyncIterator[tuple[TP, Message]]:
        """Faust's `getmany`, without the records a seek made stale, giving back the ones it
        skips, and counting both, and what the fetch loop will drop.

        A: records fetched before a seek of their partition are discarded (aiokafka fetches them
        again from the offset sought): delivered, they raised the read offset past the offset
        sought, and the loop then dropped the records the seek fetched. C: Faust skips, silently,
        fresh records of a partition that is neither active nor buffered, while aiokafka's position
        has passed them: a fetch begun before a rebalance can return, after recovery's seek, records
        of stream partitions still held (B). Such a partition is sought back to its first skipped
        record, which undoes the fetch (otherwise the partition stalls until the stall rule finds
        it).
        """
        seeks, read_offset = self._clout_seeks, self._read_offset
        buffered = self._buffered_partitions
        dropped: defaultdict[tuple[str, TP], int] = defaultdict(int)
        skipped: dict[TP, int] = {}
        try:
            async for tp, message in super().getmany(timeout):
                active = self._clout_active
                if seeks.get(tp, 0) != self._clout_fetched_at.get(tp, 0):
                    dropped["stale_batch", tp] += 1
                elif active is not None and tp not in active and tp not in buffered:
                    dropped["inactive_partition", tp] += 1
                    skipped.setdefault(tp, message.offset)
                else:
                    read = read_offset[tp]
                    if read is not None and message.offset < read:
                        dropped["read_offset", tp] += 1  # Faust's loop drops it
                    yield tp, message
            if skipped:
                await self._clout_fetch_again(skipped)
            self.completed_fetches += 1
        finally:
            for (reason, tp), count in dropped.items():
                metrics.FAUST_RECORDS_DISCARDED.labels(reason=reason).inc(count)
                level = logging.INFO if reason == "stale_batch" else logging.WARNING
                log.log(level, "%s: %d fetched records not delivered (%s)", tp, count, reason)

    async def _clout_fetch_again(self, first_skipped: Mapping[TP, int]) -> None:
        """Seek each still-assigned partition back to its first skipped record."""
        assigned = self.assignment()
        due = {tp: offset for tp, offset in first_skipped.items() if tp in assigned}
        if due:
            log.warning("seeking skipped partitions back: %s", sorted(due.items()))
            await self.seek_wait(due)


class _Resumed:
    """A coroutine already run up to its first suspension, awaitable from that point on.

    Awaiting it first hands the task what the coroutine was waiting for, then relays every
    value, exception and close between the task and the coroutine, as `await` would have.
    """

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        self._coro = coro
        self._waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_for = self._coro, self._waiting_for
        while True:
            try:
                sent = yield waiting_for
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # relayed into the coroutine
                try:
                    waiting_for = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_for = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class InlineDeliveryConsumer(WorkerConsumer):
    """The worker's consumer, delivering each fetched message inline when nothing blocks.

    Faust's fetch loop (`Consumer._drain_messages`) hands every message to the conductor as
    `wait_first(callback(message), suspend_flow.wait())`: a race of four futures and an
    `asyncio.wait` per message, a large share of what a Faust agent spends per message
    (CHANGELOG.md). The callback almost never waits (it decodes and puts the
    event in a stream's buffer), so it is run here up to its first suspension. Only if it
    suspends (flow control during a rebalance, a full buffer) does the race happen, as Faust's,
    with the rest of the callback; with the flow suspended or the consumer stopping, Faust's
    `wait_first` runs unchanged. (A cost, no upstream report found.)
    """

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109  # mode's signature
        """Faust's `Service.wait_first`, with the inline path for the fetch loop's call."""
        if not (
            len(coros) == 2
            and timeout is None
            and isinstance(coros[0], Coroutine)
            and not self.suspend_flow.is_set()
            and not self.should_stop
        ):
            return await super().wait_first(*coros, timeout=timeout)
        callback, suspended = coros
        try:
            waiting_for = callback.send(None)
        except StopIteration as done:
            _discard(suspended)
            return WaitResults([callback], [done.value], False)
        except BaseException:
            _discard(suspended)
            raise
        return await super().wait_first(_Resumed(callback, waiting_for), suspended)


def _discard(awaitable: Any) -> None:
    """Close a coroutine that will never run (without Python's "never awaited" warning)."""
    if isinstance(awaitable, Coroutine):
        awaitable.close()


class WorkerTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with the worker's consumer (set as `app.transport`)."""

    Consumer = WorkerConsumer
    fetch_policy = FAUST_FETCH


class InlineDeliveryTransport(WorkerTransport):
    """The worker's transport with `InlineDeliveryConsumer`."""

    Consumer = InlineDeliveryConsumer


def worker_transport(
    app: faust.App, *, inline_delivery: bool, fetch: FetchPolicy
) -> WorkerTransport:
    """The transport to give `app` before anything (a topic declaration) creates its own."""
    kind = InlineDeliveryTransport if inline_delivery else WorkerTransport
    transport = kind(app.conf.broker_consumer, app)
    transport.fetch_policy = fetch
    return transport


# -- fencing a paused worker --------------------------------------------------------------------


class FencedTable(faust.Table[bytes, bytes]):
    """Faust's table, except that the local store's changelog offset moves on only once an
    offset commit has confirmed that this worker still owned its partitions.

    The store's changelog offset tells a later restore of that partition on this worker where to
    start reading the changelog (Faust records it as soon as the broker has a record it sent). A
    worker paused past its session (a zombie) still writes a few records after the new owner's;
    had their offsets been recorded, taking the partition back later would skip every record the
    new owner wrote before them. `FaustTableAccess` reports each delivered record batch with
    `record_sent`; unconfirmed records are read again, and the store's restore rule
    (`FencedRocksDBStore`) resolves them. Set as Faust's `Table` setting. Faust fences a zombie
    only under `exactly_once`, which crashes on `ProducerFenced` around rebalances
    (faust-streaming #323; docs/guarantees.md, "Fencing a paused worker").
    """

    def record_sent(self, tp: TP, offset: int) -> None:
        """The broker has the changelog record at `offset` of `tp`; a commit must confirm it."""
        pending = self._unconfirmed()
        pending[tp] = max(offset, pending.get(tp, -1))

    def _unconfirmed(self) -> dict[TP, int]:
        pending: dict[TP, int] | None = getattr(self, "_clout_unconfirmed", None)
        if pending is None:
            pending = {}
            self._clout_unconfirmed = pending
        return pending

    def unconfirmed_offsets(self) -> dict[TP, int]:
        """Per changelog partition, the last record the broker has and no commit confirmed."""
        return dict(self._unconfirmed())

    def confirm(self, offsets: dict[TP, int]) -> None:
        """Record `offsets` in the local store: a commit sent after they were acknowledged was
        accepted, so they were written by the partitions' owner."""
        pending = self._unconfirmed()
        for tp, offset in offsets.items():
            self.data.set_persisted_offset(tp, offset)
            if pending.get(tp, -1) <= offset:
                pending.pop(tp, None)

    def forget_unconfirmed(self) -> None:
        """Drop what no commit confirmed (on revocation: it may be a zombie's)."""
        self._unconfirmed().clear()


def _newest_generation_only(
    batch: Iterable[EventT[Any]], stored: Callable[[int, bytes | None], bytes | None]
) -> tuple[list[EventT[Any]], dict[TP, int]]:
    """The changelog events a restore applies (see `streams.state.supersedes`), and the highest
    offset read per changelog partition, applied or not."""
    latest: dict[tuple[int, bytes | None], bytes | None] = {}
    kept: list[EventT[Any]] = []
    read_up_to: dict[TP, int] = {}
    for event in batch:
        message = event.message
        read_up_to[message.tp] = max(message.offset, read_up_to.get(message.tp, -1))
        slot = (message.partition, message.key)
        current = latest[slot] if slot in latest else stored(message.partition, message.key)
        if supersedes(message.value, current):
            latest[slot] = message.value
            kept.append(event)
    return kept, read_up_to


class FencedRocksDBStore(faust_rocksdb.Store):
    """Faust's RocksDB store whose changelog restore keeps, per key, the newest generation's
    record rather than the last one (a paused worker's late record never wins)."""

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT[Any]],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Write the batch's winning records, and remember how far the changelog was read."""

        def stored(partition: int, key: bytes | None) -> bytes | None:
            value: bytes | None = self._db_for_partition(partition).get(key)
            return value

        kept, read_up_to = _newest_generation_only(batch, stored)
        super().apply_changelog_batch(kept, to_key, to_value)
        for tp, offset in read_up_to.items():
            self.set_persisted_offset(tp, offset)


class FencedMemoryStore(faust_memory.Store[bytes, bytes]):
    """Faust's in-memory store with the same restore rule as `FencedRocksDBStore`."""

    def apply_changelog_batch(
        self,
        batch: Iterable[EventT[Any]],
        to_key: Callable[[Any], Any],
        to_value: Callable[[Any], Any],
    ) -> None:
        """Apply the batch's winning records."""

        def stored(partition: int, key: bytes | None) -> bytes | None:
            value: bytes | None = self.data.get(to_key(key))
            return value

        kept, _ = _newest_generation_only(batch, stored)
        super().apply_changelog_batch(kept, to_key, to_value)


_FENCED_STORES = {
    "rocksdb": ("clout-rocksdb", f"{__name__}:FencedRocksDBStore"),
    "memory": ("clout-memory", f"{__name__}:FencedMemoryStore"),
}


def fenced_store_url(url: str) -> str:
    """The store URL for a table with the fenced restore rule, for a `rocksdb://` or
    `memory://` store URL (the scheme is registered with Faust's store registry).

    Give it as the app's `store` setting: a table's own `store=` argument is ignored when the
    URL has no host or path (Faust tests the URL's truth, and yarl's is False for those).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _FENCED_STORES:
        raise ValueError(f"table store {url!r}: Clout supports rocksdb:// and memory://")
    name, target = _FENCED_STORES[scheme]
    STORES.aliases[name] = target
    return f"{name}://{rest}"
