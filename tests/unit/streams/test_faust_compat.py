"""The one module that touches Faust privates: it refuses other Faust versions, and its
fencing pieces (restore rule, confirmed changelog offsets) work against Faust's own stores."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaTimeoutError
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.types import TP
from prometheus_client import REGISTRY

from app.step.stored_user import StoredUser
from streams import faust_compat
from streams.commit import Checkpoint
from streams.record_batches import Delivery, Records

# -- the wall's canary: every private it uses, with the shape it relies on ---------------------

OWN_PRIVATES = {
    # Clout's own private names in streams/faust_compat.py besides `_clout_*` (on Faust's
    # classes Clout's own members start with `_clout_`); everything else is a library's
    "_coro",
    "_discard",
    "_newest_generation_only",
    "_queued",
    "_send",
    "_table",
    "_unconfirmed",
    "_waiting_for",
}


def library_privates_in_the_wall() -> set[str]:
    """Private names streams/faust_compat.py reads, writes or overrides, Clout's own excepted."""
    tree = ast.parse(Path(faust_compat.__file__).read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    defined = (ast.FunctionDef, ast.AsyncFunctionDef)
    used |= {node.name for node in ast.walk(tree) if isinstance(node, defined)}
    private = {n for n in used if n.startswith("_") and not n.startswith(("__", "_clout_"))}
    return private - OWN_PRIVATES


def test_every_library_private_the_wall_uses_is_listed_for_the_canary() -> None:
    listed = {private.name for private in faust_compat.PRIVATES}
    assert library_privates_in_the_wall() == listed - {"_send_request_to_node"}  # app/ops'


def missing_privates(instances: dict[type, object]) -> list[str]:
    """The `PRIVATES` the installed libraries lack or have in another shape."""
    missing = []
    for private in faust_compat.PRIVATES:
        where = f"{private.owner.__module__}.{private.owner.__qualname__}.{private.name}"
        if private.parameters is None:
            if not hasattr(instances[private.owner], private.name):
                missing.append(f"{where}: no such attribute")
            continue
        try:
            shape = faust_compat.shape_of(private)
        except AttributeError:
            missing.append(f"{where}: no such method")
            continue
        if shape != private.parameters:
            missing.append(f"{where}{shape}: expected {private.parameters}")
    return missing


async def instances_of_owners() -> dict[type, object]:
    """An instance of each class whose per-instance attributes `PRIVATES` lists."""
    app = faust.App("t", broker="kafka://127.0.0.1:1")
    app.transport = faust_compat.worker_transport(
        app, inline_delivery=False, fetch=faust_compat.FAUST_FETCH
    )
    consumer = app.consumer
    assert isinstance(consumer, faust_compat.WorkerConsumer)
    kafka = consumer.kafka_thread.create_kafka_consumer()
    return {Consumer: consumer, ThreadDelegateConsumer: consumer, AIOKafkaConsumer: kafka}


async def test_every_private_the_wall_uses_exists_with_its_shape() -> None:
    instances = await instances_of_owners()
    try:
        assert missing_privates(instances) == []
    finally:
        await instances[AIOKafkaConsumer].stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("owner", "name"),
    [(Consumer, "_add_gap"), (Consumer, "_read_offset"), (AIOKafkaConsumer, "_fetch_min_bytes")],
)
async def test_the_canary_fails_when_an_upgrade_renames_a_private(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    instances = await instances_of_owners()
    try:
        if name in vars(owner):
            monkeypatch.delattr(owner, name)
        else:  # set per instance
            monkeypatch.delattr(instances[owner], name)
        assert [line for line in missing_privates(instances) if f".{name}" in line]
    finally:
        await instances[AIOKafkaConsumer].stop()  # type: ignore[attr-defined]


def test_faust_recovery_resumes_the_flow_after_its_seek_as_the_held_resume_relies_on() -> None:
    for path in (Recovery.on_recovery_completed, Recovery._resume_streams):  # noqa: SLF001
        source = inspect.getsource(path)
        order = [
            source.index(step) for step in ("resume_partitions", "perform_seek", "resume_flow")
        ]
        assert order == sorted(order), path


def test_the_pinned_libraries_are_accepted() -> None:
    faust_compat.require_pinned_libraries()
    assert faust.__version__ == faust_compat.PINNED["faust-streaming"]


@pytest.mark.parametrize("distribution", ["faust-streaming", "mode-streaming", "aiokafka"])
def test_any_other_version_is_refused_as_importlib_metadata_reads_it(
    monkeypatch: pytest.MonkeyPatch, distribution: str
) -> None:
    pinned = faust_compat.installed_version

    def installed(name: str) -> str | None:
        return "9.9.9" if name == distribution else pinned(name)

    monkeypatch.setattr(faust_compat, "installed_version", installed)
    with pytest.raises(RuntimeError, match=f"installed: {distribution} 9.9.9$"):
        faust_compat.require_pinned_libraries()


def test_mode_is_read_from_its_distribution_not_its_version_attribute() -> None:
    import mode

    assert mode.__version__ != faust_compat.PINNED["mode-streaming"]  # mode says 0.0.1
    assert faust_compat.installed_version("mode-streaming") == faust_compat.PINNED["mode-streaming"]
    assert faust_compat.installed_version("no-such-distribution-clout") is None


# -- fencing a paused worker: the restore rule and confirmed changelog offsets ---------------


@dataclass(frozen=True)
class Message:
    """What Faust's changelog restore reads of a record."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes | None

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


@dataclass(frozen=True)
class Event:
    """A changelog event as Faust's restore hands it to a store (raw bytes serializers)."""

    message: Message

    @property
    def key(self) -> bytes:
        return self.message.key

    @property
    def value(self) -> bytes | None:
        return self.message.value


CHANGELOG = "t-signals-changelog"


def record(offset: int, key: bytes, generation: int, watermark: int, partition: int = 3) -> Event:
    """A changelog record of `key`: a user whose likes are applied up to `watermark`."""
    user = StoredUser(generation=generation)
    user.mark_applied("likes", watermark)
    return Event(Message(CHANGELOG, partition, offset, key, user.to_bytes()))


def watermark_of(value: bytes | None) -> int:
    user = StoredUser.from_bytes(value)
    return next(o for o in range(10_000) if not user.already_applied("likes", o)) - 1


def fenced_table(tmp_path: Path, store_url: str) -> faust_compat.FencedTable:
    """The worker's kind of table (raw bytes, fenced store) in an app that is never started."""
    app = faust.App(
        "t",
        datadir=str(tmp_path),
        store=faust_compat.fenced_store_url(store_url),
        Table=faust_compat.FencedTable,
    )
    declared = app.Table("signals", key_type=bytes, value_type=bytes, partitions=8)
    assert isinstance(declared, faust_compat.FencedTable)
    return declared


@pytest.fixture
def table(tmp_path: Path) -> Iterator[faust_compat.FencedTable]:
    """A fenced RocksDB-backed table (no broker needed)."""
    declared = fenced_table(tmp_path, "rocksdb://")
    yield declared
    declared.data.reset_state()


def identity(value: Any) -> Any:
    return value


def test_a_restore_keeps_the_newest_generation_per_key_not_the_last_record(
    table: faust_compat.FencedTable,
) -> None:
    store = table.data
    assert isinstance(store, faust_compat.FencedRocksDBStore)
    db = faust_compat.partition_data(store, 3)
    db[b"mine"] = StoredUser(generation=4).to_bytes()  # written locally by a zombie of gen 4
    store.apply_changelog_batch(
        [
            record(0, b"u", 5, 10),
            record(1, b"u", 6, 20),  # the new owner
            record(2, b"u", 5, 12),  # the paused worker, late
            record(3, b"w", 5, 7),  # a key only the paused worker wrote: kept
            record(4, b"mine", 6, 3),  # replaces the zombie's local value
        ],
        identity,
        identity,
    )
    assert watermark_of(db[b"u"]) == 20
    assert watermark_of(db[b"w"]) == 7
    assert watermark_of(db[b"mine"]) == 3
    assert store.persisted_offset(TP(CHANGELOG, 3)) == 4  # read past the dropped record
    # Later batches compare with what the store holds.
    store.apply_changelog_batch([record(5, b"u", 5, 30), record(6, b"w", 6, 8)], identity, identity)
    assert watermark_of(db[b"u"]) == 20
    assert watermark_of(db[b"w"]) == 8
    assert store.persisted_offset(TP(CHANGELOG, 3)) == 6


def test_the_memory_store_applies_the_same_rule(tmp_path: Path) -> None:
    store = fenced_table(tmp_path, "memory://").data
    assert isinstance(store, faust_compat.FencedMemoryStore)
    batch = [record(0, b"u", 6, 20), record(1, b"u", 5, 12), record(2, b"v", 5, 1)]
    store.apply_changelog_batch(batch, identity, identity)
    assert watermark_of(store.data[b"u"]) == 20
    assert watermark_of(store.data[b"v"]) == 1


def test_only_rocksdb_and_memory_stores_are_fenced() -> None:
    assert faust_compat.fenced_store_url("rocksdb://") == "clout-rocksdb://"
    assert faust_compat.fenced_store_url("memory://") == "clout-memory://"
    with pytest.raises(ValueError, match="rocksdb:// and memory://"):
        faust_compat.fenced_store_url("aerospike://host")


class FakeBroker:
    """A `SendRecords` that takes each call as one record batch and numbers its records from
    the partition's end, as a broker would; `held` keeps the deliveries unresolved."""

    def __init__(self) -> None:
        self.log: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        self.held = False
        self.pending: list[tuple[asyncio.Future[Any], int]] = []

    async def __call__(self, topic: str, partition: int, records: Records) -> list[Delivery]:
        log = self.log.setdefault((topic, partition), [])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        base = len(log)
        log.extend(records)
        if self.held:
            self.pending.append((future, base))
        else:
            future.set_result(SimpleNamespace(offset=base))
        return [Delivery(future, len(records))]


async def test_table_writes_are_stored_at_once_and_their_changelog_goes_out_on_deliver(
    table: faust_compat.FencedTable,
) -> None:
    broker = FakeBroker()
    access = faust_compat.FaustTableAccess(table, broker)
    access.write(2, b"u", b"one")
    access.write(2, b"v", b"two")
    access.write(5, b"u2", b"three")
    assert access.read(2, b"u") == b"one"
    assert access.read(5, b"u2") == b"three"
    assert access.read(5, b"u") is None  # each partition is its own database
    store = table.data
    assert isinstance(store, faust_compat.FencedRocksDBStore)
    # where Faust itself reads and restores: the partition's database
    assert faust_compat.partition_data(store, 2)[b"u"] == b"one"
    assert faust_compat.partition_data(store, 5)[b"u2"] == b"three"
    assert broker.log == {}  # records wait for deliver
    await access.deliver()
    assert broker.log == {
        (CHANGELOG, 2): [(b"u", b"one"), (b"v", b"two")],
        (CHANGELOG, 5): [(b"u2", b"three")],
    }
    # the last delivered offset per changelog partition waits for a commit to confirm it
    assert table.unconfirmed_offsets() == {TP(CHANGELOG, 2): 1, TP(CHANGELOG, 5): 0}
    assert table.data.persisted_offset(TP(CHANGELOG, 2)) is None


async def test_the_memory_store_is_written_and_read_the_same_way(tmp_path: Path) -> None:
    declared = fenced_table(tmp_path, "memory://")
    broker = FakeBroker()
    access = faust_compat.FaustTableAccess(declared, broker)
    access.write(2, b"u", b"one")
    assert access.read(2, b"u") == b"one"
    assert declared.data.data[b"u"] == b"one"  # type: ignore[attr-defined]
    await access.deliver()
    assert broker.log == {(declared.changelog_topic.get_topic_name(), 2): [(b"u", b"one")]}


async def delivery_in_flight(
    table: faust_compat.FencedTable,
) -> tuple[FakeBroker, faust_compat.FaustTableAccess, asyncio.Future[None]]:
    """One write to partition 1, its deliver() started and held at the "broker"."""
    broker = FakeBroker()
    broker.held = True
    access = faust_compat.FaustTableAccess(table, broker)
    access.write(1, b"u", b"one")
    delivering = asyncio.ensure_future(access.deliver())
    await asyncio.sleep(0.01)
    return broker, access, delivering


async def test_deliver_returns_only_once_the_broker_has_the_records(
    table: faust_compat.FencedTable,
) -> None:
    broker, access, delivering = await delivery_in_flight(table)
    assert not delivering.done()
    access.write(1, b"v", b"two")  # an eviction meanwhile: sent by the next deliver
    future, base = broker.pending.pop()
    future.set_result(SimpleNamespace(offset=base))
    await delivering
    assert broker.log == {(CHANGELOG, 1): [(b"u", b"one")]}
    broker.held = False
    await access.deliver()
    assert broker.log == {(CHANGELOG, 1): [(b"u", b"one"), (b"v", b"two")]}
    assert table.unconfirmed_offsets() == {TP(CHANGELOG, 1): 1}


async def test_a_batch_the_producer_gave_up_on_fails_the_delivery(
    table: faust_compat.FencedTable,
) -> None:
    broker, _, delivering = await delivery_in_flight(table)
    broker.pending.pop()[0].set_exception(KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        await delivering
    assert table.unconfirmed_offsets() == {}


def test_changelog_offsets_are_stored_only_once_a_commit_confirms_them(
    table: faust_compat.FencedTable,
) -> None:
    tp = TP(CHANGELOG, 2)
    table.record_sent(tp, 10)
    table.record_sent(tp, 11)
    assert table.data.persisted_offset(tp) is None  # not yet: a zombie's records look the same
    confirmed = table.unconfirmed_offsets()
    assert confirmed == {tp: 11}
    table.record_sent(tp, 12)  # after the commit left
    table.confirm(confirmed)
    assert table.data.persisted_offset(tp) == 11
    assert table.unconfirmed_offsets() == {tp: 12}  # still waits for the next commit
    table.forget_unconfirmed()  # revoked: possibly a zombie's
    assert table.unconfirmed_offsets() == {}
    assert table.data.persisted_offset(tp) == 11


async def test_the_commit_protocol_commits_through_faust_and_confirms_the_changelog(
    table: faust_compat.FencedTable,
) -> None:
    """The worker consumer's `_commit_offsets` (Faust's hook) runs the checkpoint's steps, and
    its `commit_assigned` reaches the Kafka commit (replaced here)."""
    app = table.app
    app.transport = faust_compat.worker_transport(
        app, inline_delivery=False, fetch=faust_compat.FAUST_FETCH
    )
    consumer = app.consumer
    assert isinstance(consumer, faust_compat.WorkerConsumer)
    changelog, likes, shares = TP(CHANGELOG, 1), TP("t.likes", 1), TP("t.shares", 1)
    steps: list[str] = []

    async def settle_scores() -> None:
        steps.append("scores")

    async def flush_state() -> None:
        steps.append("state")
        table.record_sent(changelog, 5)

    async def flush_producer() -> None:
        steps.append("produce")

    async def kafka_commit(consumer: Any, offsets: Any) -> bool:
        steps.append(f"commit {dict(offsets)}")
        table.record_sent(changelog, 6)  # acknowledged while the commit was on its way
        return True

    faust_compat.use_checkpoint(app, Checkpoint(settle_scores, flush_state, [table]))
    consumer.flush_producer = flush_producer  # type: ignore[method-assign]
    consumer.assignment = lambda: {likes}  # type: ignore[method-assign]
    undo = faust_compat.replace_offset_commit(lambda original: kafka_commit)
    try:
        assert await consumer.force_commit() is False  # nothing acknowledged: no commit
        faust_compat.acknowledge(consumer, likes, 0)
        faust_compat.acknowledge(consumer, shares, 0)  # revoked meanwhile: not committed
        assert await consumer.force_commit() is True
    finally:
        undo()
    assert steps == ["scores", "state", "produce", f"commit {{{likes!r}: 1}}"]
    assert faust_compat.committed_offset(consumer, likes) == 1
    assert table.data.persisted_offset(changelog) == 5
    assert table.unconfirmed_offsets() == {changelog: 6}


@pytest.mark.parametrize("inline_delivery", [True, False])
async def test_the_worker_consumer_reads_committed_records_and_fetches_by_its_policy(
    inline_delivery: bool,
) -> None:
    app = faust.App("t", broker="kafka://127.0.0.1:1")
    fetch = faust_compat.FetchPolicy(min_bytes=4096, max_wait_ms=7)
    app.transport = faust_compat.worker_transport(app, inline_delivery=inline_delivery, fetch=fetch)
    consumer = app.consumer
    assert isinstance(consumer, faust_compat.InlineDeliveryConsumer) is inline_delivery
    assert isinstance(consumer, faust_compat.WorkerConsumer)
    kafka_consumer = consumer.kafka_thread.create_kafka_consumer()
    try:
        assert faust_compat.fetch_settings(kafka_consumer) == ("read_committed", fetch)
    finally:
        await kafka_consumer.stop()


# -- delivering fetched messages inline ---------------------------------------------------------


@pytest.fixture
async def consumer() -> faust_compat.InlineDeliveryConsumer:
    """The worker's consumer, not started (its wait_first needs no broker), made inside the
    test's event loop (its events belong to the loop they were made in)."""
    app = faust.App("t", broker="kafka://127.0.0.1:1")
    app.transport = faust_compat.worker_transport(
        app, inline_delivery=True, fetch=faust_compat.FAUST_FETCH
    )
    created = app.consumer
    assert isinstance(created, faust_compat.InlineDeliveryConsumer)
    return created


async def current_task() -> asyncio.Task[Any] | None:
    """A message callback that does not wait: it reports the task it ran in."""
    return asyncio.current_task()


async def test_a_callback_that_does_not_wait_runs_inline(
    consumer: faust_compat.InlineDeliveryConsumer,
) -> None:
    callback, suspended = current_task(), consumer.suspend_flow.wait()
    result = await consumer.wait_first(callback, suspended)
    assert inspect.getcoroutinestate(suspended) == inspect.CORO_CLOSED  # closed, never run
    assert result.done == [callback]
    assert result.results == [asyncio.current_task()]  # no task of its own: no race was run
    assert not result.stopped


async def test_a_callback_that_waits_is_raced_against_a_suspended_flow_as_faust_does(
    consumer: faust_compat.InlineDeliveryConsumer,
) -> None:
    resume = asyncio.Event()
    steps: list[str] = []

    async def waits_for_room() -> str:
        steps.append("inline")
        await resume.wait()
        steps.append(f"resumed, same task: {asyncio.current_task() is caller}")
        return "put"

    caller = asyncio.current_task()
    waiting = asyncio.ensure_future(
        consumer.wait_first(waits_for_room(), consumer.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    assert steps == ["inline"]
    assert not waiting.done()
    resume.set()
    result = await waiting
    assert result.results == ["put"]
    assert steps == ["inline", "resumed, same task: False"]

    # the flow is suspended (a rebalance) while a callback waits: it is given up, cancelled
    cancelled = asyncio.Event()

    async def blocked() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    suspended = consumer.suspend_flow.wait()
    waiting = asyncio.ensure_future(consumer.wait_first(blocked(), suspended))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    result = await waiting
    assert result.done == [suspended]
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_a_callback_error_propagates(consumer: faust_compat.InlineDeliveryConsumer) -> None:
    async def undecodable() -> None:
        raise ValueError("bad message")

    suspended = consumer.suspend_flow.wait()
    with pytest.raises(ValueError, match="bad message"):
        await consumer.wait_first(undecodable(), suspended)
    assert inspect.getcoroutinestate(suspended) == inspect.CORO_CLOSED


async def test_with_the_flow_suspended_faust_own_race_runs(
    consumer: faust_compat.InlineDeliveryConsumer,
) -> None:
    consumer.suspend_flow.set()
    callback = current_task()
    result = await consumer.wait_first(callback, consumer.suspend_flow.wait())
    assert asyncio.current_task() not in result.results  # the callback ran in a task of its own


# -- Faust's delivery defects, fixed in the worker consumer ------------------------------------

LIKES, SHARES, MENTIONS = TP("t.likes", 1), TP("t.shares", 1), TP("t.mentions", 1)


@pytest.fixture
async def worker() -> faust_compat.WorkerConsumer:
    """The worker's consumer with a changelog-backed table, not started, made in the test's
    loop."""
    app = faust.App("t", broker="kafka://127.0.0.1:1")
    app.transport = faust_compat.worker_transport(
        app, inline_delivery=False, fetch=faust_compat.FAUST_FETCH
    )
    app.Table("signals", key_type=bytes, value_type=bytes, partitions=8)
    consumer = app.consumer
    assert isinstance(consumer, faust_compat.WorkerConsumer)
    return consumer


def discarded(reason: str) -> float:
    value = REGISTRY.get_sample_value("clout_faust_records_discarded_total", {"reason": reason})
    return value or 0.0


def test_stream_partitions_resume_with_the_flow_not_before_recoverys_seek(
    worker: faust_compat.WorkerConsumer,
) -> None:
    changelog = TP("t-signals-changelog", 1)
    worker.pause_partitions({LIKES, changelog})  # assigned: Faust pauses everything
    worker.resume_partitions({LIKES, changelog})  # recovery, before its seek and its clear
    assert worker.fetching() == {changelog}
    worker.resume_flow()  # after them
    assert worker.fetching() == {LIKES, changelog}

    worker.resume_partitions({SHARES})
    worker.pause_partitions({SHARES})  # a new rebalance before the flow resumed
    worker.resume_flow()
    assert SHARES not in worker.fetching()


class Fetched:
    """The consumer thread's fetches, served from `records` (each call takes the next map)."""

    def __init__(self, consumer: faust_compat.WorkerConsumer) -> None:
        self.consumer = consumer
        self.records: list[dict[TP, list[Any]]] = []

    async def getmany(
        self,
        active_partitions: Any,
        timeout: float,  # noqa: ASYNC109  # the thread's signature
    ) -> dict[TP, list[Any]]:
        self.consumer.note_fetch()  # as the thread's `_fetch_records` does on return
        return self.records.pop(0)


def kafka_records(tp: TP, *offsets: int) -> list[Any]:
    return [
        SimpleNamespace(
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            timestamp=None,
            timestamp_type=0,
            headers=[],
            key=b"k",
            value=b"v",
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=1,
        )
        for offset in offsets
    ]


@pytest.fixture
def fetched(worker: faust_compat.WorkerConsumer, monkeypatch: pytest.MonkeyPatch) -> Fetched:
    source = Fetched(worker)
    monkeypatch.setattr(worker.kafka_thread, "getmany", source.getmany)
    monkeypatch.setattr(worker, "highwater", lambda tp: 0)
    worker.pause_partitions({LIKES, SHARES, MENTIONS})
    worker.resume_partitions({LIKES, SHARES})
    worker.resume_flow()
    return source


async def test_records_fetched_before_a_seek_of_their_partition_are_not_delivered(
    worker: faust_compat.WorkerConsumer, fetched: Fetched
) -> None:
    fetched.records.append(
        {LIKES: kafka_records(LIKES, 0, 1, 2, 3, 4), SHARES: kafka_records(SHARES, 7, 8)}
    )
    before = discarded("stale_batch")
    delivered: list[tuple[TP, int]] = []
    async for tp, message in worker.getmany(timeout=0.1):
        delivered.append((tp, message.offset))
        if (tp, message.offset) == (LIKES, 1):
            worker.note_seek([LIKES])  # the gate seeks likes back while the batch is iterated

    # 2..4 came from before the seek: aiokafka fetches them again from the offset sought
    assert sorted(delivered) == [(LIKES, 0), (LIKES, 1), (SHARES, 7), (SHARES, 8)]
    assert discarded("stale_batch") - before == 3

    fetched.records.append({LIKES: kafka_records(LIKES, 1, 2)})  # the seek's own fetch
    assert [m.offset async for _, m in worker.getmany(timeout=0.1)] == [1, 2]
    assert worker.completed_fetches == 2  # what the stall rule waits for


async def test_records_faust_will_drop_are_counted_and_those_it_skips_fetched_again(
    worker: faust_compat.WorkerConsumer, fetched: Fetched, monkeypatch: pytest.MonkeyPatch
) -> None:
    sought: list[dict[TP, int]] = []

    async def seek_wait(partitions: Any) -> None:
        worker.note_seek(partitions)
        sought.append(dict(partitions))

    monkeypatch.setattr(worker, "seek_wait", seek_wait)
    monkeypatch.setattr(worker, "assignment", lambda: {LIKES, SHARES, MENTIONS})
    await worker.seek(LIKES, 3)  # Faust sets the read offset to 3
    fetched.records.append(
        {LIKES: kafka_records(LIKES, 1, 2, 3), MENTIONS: kafka_records(MENTIONS, 5, 6)}
    )
    dropped, skipped = discarded("read_offset"), discarded("inactive_partition")
    delivered = [(tp, m.offset) async for tp, m in worker.getmany(timeout=0.1)]

    assert delivered == [(LIKES, 1), (LIKES, 2), (LIKES, 3)]  # Faust's loop drops 1 and 2
    assert discarded("read_offset") - dropped == 2
    # mentions is paused: Faust skips its records, aiokafka's position has passed them
    assert discarded("inactive_partition") - skipped == 2
    assert sought == [{LIKES: 3}, {MENTIONS: 5}]


async def test_a_seek_runs_in_the_consumer_thread(
    worker: faust_compat.WorkerConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sought: list[Any] = []

    async def seek_wait(partitions: Any) -> None:
        sought.append(dict(partitions))

    monkeypatch.setattr(worker, "seek_wait", seek_wait)
    await worker.seek(LIKES, 3)  # Faust's own `_seek` calls aiokafka from this loop
    assert sought == [{LIKES: 3}]
    assert faust_compat.delivered_past(worker, LIKES, 2)  # its read offset: the one sought


async def test_a_fetch_asks_for_the_partitions_active_when_it_started(
    worker: faust_compat.WorkerConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka reads an empty set as every partition: recovery empties Faust's live set while
    a fetch waits, and the stream partitions' records came back and were skipped."""
    changelog = TP("t-signals-changelog", 1)
    available = {changelog: kafka_records(changelog, 0), LIKES: kafka_records(LIKES, 40, 41)}

    async def aiokafka_fetch(active_partitions: Any, timeout: float) -> dict[TP, list[Any]]:  # noqa: ASYNC109
        worker.pause_partitions({changelog})  # recovery, done reading, while the fetch waits
        worker.note_fetch()
        return {
            tp: r for tp, r in available.items() if not active_partitions or tp in active_partitions
        }

    monkeypatch.setattr(worker.kafka_thread, "getmany", aiokafka_fetch)
    monkeypatch.setattr(worker, "highwater", lambda tp: 0)
    monkeypatch.setattr(worker, "assignment", set)  # the paused changelog: not sought back
    worker.pause_partitions({LIKES, changelog})
    worker.resume_partitions({changelog, LIKES})  # changelog now; likes held for the flow
    skipped = discarded("inactive_partition")
    delivered = [(tp, m.offset) async for tp, m in worker.getmany(timeout=0.1)]

    assert delivered == []
    # only the changelog record (paused meanwhile; recovery seeks it again): likes' records
    # were not fetched, so aiokafka's position in likes has not passed them
    assert discarded("inactive_partition") - skipped == 1
