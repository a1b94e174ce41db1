"""Every touch of a Faust private, in one place, checked against the pinned Faust version.

Clout relies on things faust-streaming 0.15.3 does not offer publicly:

* a table write or read of a given partition outside stream iteration, straight to that
  partition's database (Faust routes by the "current event", a context variable, and its
  per-write serializer and key-index work costs more than the write itself);
* the consumer's offset bookkeeping (`_committed_offset`, `_acked`, `_acked_index`) and its choice
  of the offset to commit (`Consumer._new_offset`, `Consumer._add_gap`), for the in-order gate;
* a hook that runs just before offsets are committed (`Consumer._commit_offsets`, which flushes
  the producer and then commits), so the write-behind state is in the table and its changelog
  before any offset that produced it is acknowledged to Kafka; the hook also drains Faust's
  producer buffer, which Faust's own flush does not guarantee (`drain_producer_buffer`);
* a consumer that reads at isolation level read_committed (Faust does only under exactly-once)
  and lets the broker gather records before it answers a fetch (Faust sets no fetch_min_bytes):
  a transport whose consumer thread sets aiokafka's `_isolation_level`, `_fetch_min_bytes` and
  `_fetch_max_wait_ms` (`worker_transport`);
* the read offset below which Faust's fetch loop drops a record (`Consumer._read_offset`),
  which must not undo the gate's seek back to a hole (`GateReadOffsets`);
* where a read_committed fetch of a partition ends (the consumer thread's aiokafka consumer's
  last stable offset, `WorkerConsumer.readable_end`), for the gate to notice a partition that
  stopped delivering short of it;
* the per-message race in Faust's fetch loop (`Consumer._drain_messages` calls `wait_first`),
  which the consumer runs inline when the message callback does not wait
  (`InlineDeliveryConsumer`);
* the aiokafka producer inside Faust's (`Producer._producer`), whose record-batch API the score
  feed and the table changelog send through (`aiokafka_producer`); Faust's flush before a
  commit flushes it;
* a table write that stores a value without Faust sending its changelog record: the
  write-behind flush sends the records itself, as record batches (`FaustTableAccess`);
* fencing a paused worker (docs/guarantees.md): a store whose changelog restore keeps, per key,
  the record of the newest generation (`FencedRocksDBStore`, registered as a store URL scheme,
  overriding the store's `apply_changelog_batch`), and a table that records the changelog
  offset it has stored locally only once an offset commit has confirmed this worker was still
  the owner (`FencedTable.record_sent`, and the consumer's `_commit`).

Each of these is version-specific, so `require_pinned_faust` refuses to start on anything but
the pinned release: a silently ineffective patch would lose the guarantees in docs/guarantees.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
    MutableMapping,
)
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.stores import STORES
from faust.stores import memory as faust_memory
from faust.stores import rocksdb as faust_rocksdb
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT
from faust.utils.functional import consecutive_numbers
from mode.services import WaitResults

from streams.record_batches import Records, SendRecords
from streams.state import supersedes

PINNED_FAUST = "0.15.3"

_LIMITS_ATTR = "_clout_commit_limits"
_NEXT_ATTR = "_clout_next_offsets"
_BEFORE_COMMIT_ATTR = "_clout_before_commit"


def require_pinned_faust() -> None:
    """Raise unless the installed Faust is the one these private accesses were written for."""
    if faust.__version__ != PINNED_FAUST:
        raise RuntimeError(
            f"Clout needs faust-streaming {PINNED_FAUST} (it reaches into its internals, see "
            f"streams/faust_compat.py); faust-streaming {faust.__version__} is installed"
        )


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
    return _consumer_dict(consumer, _LIMITS_ATTR)


def delivered_past(consumer: Any, tp: Any, offset: int) -> bool:
    """Whether Faust's fetch loop has handed the streams a message of `tp` after `offset`.

    Its read offset is the offset of the last message it delivered (or, just after a seek, the
    offset sought to); read as stored, not as `GateReadOffsets` caps it.
    """
    read: int | None = dict.get(consumer._read_offset, tp)
    return read is not None and read > offset


def held_back(consumer: Any, tp: Any) -> bool:
    """Whether Faust has stopped fetching `tp` because the stream's buffer is full
    (`Consumer.on_buffer_full`; it fetches again once the buffer drains)."""
    return tp in consumer._buffered_partitions


def next_offsets(consumer: Any) -> dict[Any, int]:
    """Per partition, the next offset the in-order gate lets through: it has let every offset
    below it through in this generation (`GateReadOffsets` reads it)."""
    return _consumer_dict(consumer, _NEXT_ATTR)


def _consumer_dict(consumer: Any, attribute: str) -> dict[Any, int]:
    """One dict per consumer for its whole life, kept on it under `attribute`."""
    found: dict[Any, int] | None = getattr(consumer, attribute, None)
    if found is None:
        found = {}
        setattr(consumer, attribute, found)
    return found


def install_commit_guard() -> None:
    """Patch Faust's commit-offset choice: contiguous acknowledgements only, and never past
    `commit_limits(consumer)[tp]` (idempotent)."""
    require_pinned_faust()
    if getattr(Consumer, "_clout_guarded", False):
        return

    async def no_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        # debug: with transactional input there is one jump per transaction (its marker)
        self.log.debug("offsets of %s jumped from %d to %d", tp, offset_from - 1, offset_to)

    def new_offset(self: Any, tp: Any) -> int | None:
        acked: list[int] = self._acked[tp]
        if not acked:
            return None
        acked.sort()
        committed = self._committed_offset[tp]
        if committed is not None and acked[0] > committed:
            return None  # the message at the committed offset is not acknowledged yet
        batch = list(next(consecutive_numbers(acked)))
        limit = getattr(self, _LIMITS_ATTR, {}).get(tp)
        if limit is not None:
            batch = [offset for offset in batch if offset < limit]
            if not batch:
                return None
        acked[: len(batch)] = []
        self._acked_index[tp].difference_update(batch)
        return int(batch[-1]) + 1

    Consumer._add_gap = no_gap  # type: ignore[method-assign]
    Consumer._new_offset = new_offset  # type: ignore[method-assign]
    Consumer._clout_guarded = True  # type: ignore[attr-defined]


def run_before_commit(app: faust.App, hook: Callable[[], Awaitable[object]]) -> None:
    """Await `hook()` each time `app`'s consumer is about to commit offsets.

    It runs inside `Consumer._commit_offsets`, after the offsets to commit were chosen and before
    Faust flushes its producer and commits: whatever the hook writes to tables (RocksDB and
    changelog records) is therefore delivered before the commit. The offsets being committed were
    all acknowledged before the hook ran, so their effects are among what it writes.
    """
    require_pinned_faust()
    setattr(app, _BEFORE_COMMIT_ATTR, hook)
    if getattr(Consumer, "_clout_before_commit_installed", False):
        return
    original = Consumer._commit_offsets

    async def commit_offsets(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        before = getattr(self.app, _BEFORE_COMMIT_ATTR, None)
        if before is not None:
            await before()
        await drain_producer_buffer(self.app)
        return await original(self, offsets, start_new_transaction=start_new_transaction)

    Consumer._commit_offsets = commit_offsets  # type: ignore[method-assign]
    Consumer._clout_before_commit_installed = True  # type: ignore[attr-defined]


class FaustTableAccess:
    """`streams.state.TableAccess` over a Faust table: its RocksDB partitions, and its changelog
    written as record batches with `send`.

    A write stores the value in the partition's database at once and queues its changelog
    record; `deliver` sends every queued record, one or a
    few record batches per changelog partition, and waits until the broker has them. Faust's
    own `table[key] = value` would also send each record alone (a `FutureMessage` through its
    producer buffer): at 700 events/s, draining that buffer held each commit for 250-2,300 ms,
    after 120-390 ms of store writes and encoding.
    """

    def __init__(self, table: FencedTable, send: SendRecords) -> None:
        self._table = table
        self._send = send
        self._queued: dict[int, Records] = defaultdict(list)

    def read(self, partition: int, key: bytes) -> bytes | None:
        """The stored value of `key` in `partition`."""
        value: bytes | None = self._partition_data(partition).get(key)
        return value

    def write(self, partition: int, key: bytes, value: bytes) -> None:
        """Store `value` in `partition` now; queue its changelog record for `deliver`."""
        self._partition_data(partition)[key] = value
        self._queued[partition].append((key, value))

    def _partition_data(self, partition: int) -> MutableMapping[bytes, bytes]:
        """The mapping that holds `partition` of the table: its RocksDB database, or the memory
        store's one dict (keys are raw bytes in both, as the table's serializers are raw).

        Faust's own `table[key]` routes through the current event, the key and value
        serializers and a locked LRU key index: ~15 µs more per write than the database's put.
        """
        store = self._table.data
        if isinstance(store, faust_rocksdb.Store):
            db: MutableMapping[bytes, bytes] = store._db_for_partition(partition)
            return db
        memory: MutableMapping[bytes, bytes] = store.data
        return memory

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


async def drain_producer_buffer(app: Any) -> None:
    """Wait until every record queued with `send_soon` (table changelog) is handed to aiokafka.

    Faust's `ProducerBuffer.flush()`, which `_commit_offsets` relies on, gives up as soon as one
    record takes over 0.1 s to go out (`flush_atmost` returns on its first timeout) and the commit
    then proceeds with changelog records still queued: a kill at that moment lost their effects
    while their offsets were committed (found by tests/reliability/test_envelopes.py on a loaded
    machine). aiokafka's own flush, which follows, covers everything handed to it.
    """
    buffer = app.producer.buffer
    while buffer.size:
        await buffer.flush()


def aiokafka_producer(app: faust.App) -> AIOKafkaProducer:
    """The started aiokafka producer behind `app.producer` (raises if it is not started)."""
    producer: AIOKafkaProducer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    return producer


# -- the worker's consumer: read_committed, fetch batching, inline delivery ----------------------


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How long the broker may hold a fetch to gather `min_bytes` (aiokafka's fetch_min_bytes
    and fetch_max_wait_ms; Faust passes no min bytes, so aiokafka's 1 byte applies)."""

    min_bytes: int
    max_wait_ms: int


FAUST_FETCH = FetchPolicy(min_bytes=1, max_wait_ms=1500)
"""What Faust 0.15.3 gives aiokafka: every fetch answered as soon as one record is there."""


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, its consumer reading at isolation level read_committed
    (only committed transactional records, no aborted ones) and fetching by its transport's
    `FetchPolicy`.

    Faust 0.15.3 reads read_committed only under `processing_guarantee="exactly_once"` and sets
    no fetch_min_bytes; aiokafka hands the consumer's `_isolation_level`, `_fetch_min_bytes` and
    `_fetch_max_wait_ms` to its fetcher at start.
    """

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer: AIOKafkaConsumer = super()._create_worker_consumer(transport)
        for attribute in ("_isolation_level", "_fetch_min_bytes", "_fetch_max_wait_ms"):
            if not hasattr(consumer, attribute):
                raise RuntimeError(f"aiokafka's consumer has no {attribute}; the worker needs it")
        consumer._isolation_level = "read_committed"
        fetch: FetchPolicy = transport.fetch_policy
        consumer._fetch_min_bytes = fetch.min_bytes
        consumer._fetch_max_wait_ms = fetch.max_wait_ms
        return consumer


class GateReadOffsets(defaultdict[Any, "int | None"]):
    """Faust's per-partition read offset (its fetch loop drops a record below it as read
    already), never above the next offset the in-order gate lets through (`next_offsets`).

    Records fetched before a seek are still delivered after it and raise Faust's read offset
    past the offset the seek went back to, so the loop dropped exactly the records the seek was
    for (seen in a crash test: `offset=2 r_offset=418` just after a hole at 2 was found), and
    the gate had to seek again 5 s later. Below the gate's next offset every record has been let
    through in this generation, so dropping those stays safe.
    """

    def __init__(self, gate_next: Mapping[Any, int]) -> None:
        super().__init__(lambda: None)
        self._gate_next = gate_next

    def __getitem__(self, tp: Any) -> int | None:
        read = super().__getitem__(tp)
        gate_next = self._gate_next.get(tp)
        if read is None or gate_next is None:
            return read
        return min(read, gate_next)


class WorkerConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, with the worker's consumer thread and the gate's read offsets;
    its commits confirm the changelog offsets of fenced tables (`FencedTable`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = GateReadOffsets(next_offsets(self))

    def _new_consumer_thread(self) -> WorkerConsumerThread:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def readable_end(self, tp: TP) -> int | None:
        """The offset after the last record a read_committed fetch of `tp` can deliver now (its
        last stable offset as the latest fetch response gave it); None before one, or when `tp`
        is not assigned.

        Faust reads the last stable offset only under exactly-once (`highwater`); aiokafka's
        `last_stable_offset` is a read of the partition's fetch state in the consumer thread's
        consumer.
        """
        consumer: AIOKafkaConsumer = self._thread._ensure_consumer()
        if tp not in consumer.assignment():
            return None
        end = consumer.last_stable_offset(tp)
        return None if end is None or end < 0 else int(end)

    async def _commit(self, offsets: Any) -> bool:
        """Commit; on success, confirm the changelog records acknowledged before it was sent.

        The coordinator accepts a commit only from a current member of the group, so a success
        proves this worker owned its partitions at that moment, and so when it wrote them.
        """
        tables = [t for t in self.app.tables.values() if isinstance(t, FencedTable)]
        unconfirmed = [(table, table.unconfirmed_offsets()) for table in tables]
        did_commit: bool = await super()._commit(offsets)
        if did_commit:
            for table, changelog_offsets in unconfirmed:
                table.confirm(changelog_offsets)
        return did_commit


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
    `asyncio.wait`, ~40 µs a message in a micro-benchmark, a third of what a Faust agent that
    only counts spends per message. The callback almost never waits (it decodes and puts the
    event in a stream's buffer), so it is run here up to its first suspension. Only if it
    suspends (flow control during a rebalance, a full buffer) does the race happen, as Faust's,
    with the rest of the callback; with the flow suspended or the consumer stopping, Faust's
    `wait_first` runs unchanged.
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
    (`FencedRocksDBStore`) resolves them. Set as Faust's `Table` setting.
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
