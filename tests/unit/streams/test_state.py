"""The write-behind cache: its flush and eviction rules, and the generation its writes carry
(the codec and the restore rule are tested in tests/unit/step/test_stored_user.py)."""

from __future__ import annotations

import asyncio

import pytest
from clout_kernel import Signals

from app.scoring.params import ModelParams
from app.step.stored_user import StoredUser, generation_of
from streams.state import FLUSH_YIELD_EVERY, StateCache
from tests.support.scoring import event, fold
from tests.support.table import RecordingTable


def owned(table: RecordingTable, capacity: int, generation: int = 1) -> StateCache:
    """A cache that owns partitions 0..7 as of `generation`."""
    cache = StateCache(table, capacity)
    cache.assign(range(8), generation)
    return cache


def changed(cache: StateCache, user: str, partition: int, topic: str, offset: int) -> None:
    """What a batch does: read the user, fold an event at (topic, offset), report the change."""
    state = cache.get(user, partition)
    state.signals = Signals.from_dict(fold([event(target=user)], ModelParams()).to_dict())
    state.mark_applied(topic, offset)
    cache.mark_changed([user])


def watermark(user: StoredUser, topic: str = "likes") -> int:
    """The last whole-message offset applied in `topic` (what these tests mark)."""
    offset = next(o for o in range(1000) if not user.already_applied(topic, o))
    return offset - 1


def stored(table: RecordingTable, user: str, partition: int) -> StoredUser:
    return StoredUser.from_bytes(table.data.get((partition, user.encode())))


async def test_many_changes_to_one_user_cost_one_table_write_per_flush() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    for offset in range(5):
        changed(cache, "bob", 3, "likes", offset)
    assert table.writes == []  # nothing written until a flush
    assert await cache.flush() == 1
    assert table.writes == [(3, "bob")]
    assert watermark(stored(table, "bob", 3)) == 4
    assert await cache.flush() == 0  # nothing changed since


async def test_a_user_is_read_from_the_table_once_then_served_decoded() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    changed(cache, "bob", 1, "likes", 7)
    await cache.flush()
    table.reads = 0
    fresh = owned(table, capacity=10)
    first = fresh.get("bob", 1)
    assert fresh.get("bob", 1) is first
    assert table.reads == 1
    assert watermark(first) == 7


async def test_eviction_writes_a_changed_user_before_dropping_it() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=2)
    changed(cache, "a", 0, "likes", 1)
    changed(cache, "b", 0, "likes", 2)
    cache.get("a", 0)  # a is now the most recently used
    changed(cache, "c", 0, "likes", 3)  # over capacity: b, the least recent, goes
    assert len(cache) == 2
    assert table.writes == [(0, "b")]
    assert watermark(stored(table, "b", 0)) == 2
    assert await cache.flush() == 2  # a and c; b is not written twice
    assert sorted(table.writes) == [(0, "a"), (0, "b"), (0, "c")]
    assert sorted(table.delivered) == sorted(table.writes)  # the eviction's record went too


def test_an_unchanged_user_is_evicted_without_a_write() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=1)
    cache.get("a", 0)
    cache.get("b", 0)
    assert table.writes == []
    assert len(cache) == 1


async def test_released_partitions_are_dropped_unwritten_and_reread_from_the_table() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    changed(cache, "a", 0, "likes", 1)
    changed(cache, "b", 1, "likes", 1)
    await cache.flush()
    changed(cache, "b", 1, "likes", 2)  # changed after the flush, then the partition is lost
    # another worker owned partition 1 meanwhile and moved b on
    other = StoredUser.from_bytes(table.data[(1, b"b")])
    other.mark_applied("likes", 9)
    table.data[(1, b"b")] = other.to_bytes()
    writes = len(table.writes)
    assert cache.release({1}) == 1  # b, changed and dropped
    assert len(cache) == 1
    assert cache.changed == 0
    assert await cache.flush() == 0
    assert len(table.writes) == writes  # the lost partition's change was not written
    assert cache.generation(1) == -1
    cache.assign([1], 2)
    assert watermark(cache.get("b", 1)) == 9


async def test_values_carry_the_generation_their_partition_was_assigned_in() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10, generation=7)
    changed(cache, "a", 0, "likes", 1)
    await cache.flush()
    assert stored(table, "a", 0).generation == 7
    assert generation_of(table.data[(0, b"a")]) == 7
    assert cache.generation(0) == 7
    cache.release(range(8))
    cache.assign([0], 9)
    changed(cache, "a", 0, "likes", 2)
    await cache.flush()
    assert stored(table, "a", 0).generation == 9


async def test_a_partition_never_assigned_is_never_written() -> None:
    table = RecordingTable()
    cache = StateCache(table, capacity=10)
    changed(cache, "a", 3, "likes", 1)
    with pytest.raises(RuntimeError, match="not assigned"):
        await cache.flush()
    assert table.writes == []
    assert cache.generation(3) == -1


async def test_a_flush_returns_once_every_changed_users_record_is_delivered() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    for user in ("a", "b", "c"):
        changed(cache, user, 2, "likes", 1)
    assert await cache.flush() == 3
    assert table.queued == []
    assert sorted(table.delivered) == [(2, "a"), (2, "b"), (2, "c")]


async def test_a_change_made_while_a_flush_waits_is_written_by_the_next_flush() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    changed(cache, "a", 0, "likes", 1)
    table.during_delivery = lambda: changed(cache, "a", 0, "likes", 2)  # a batch meanwhile
    assert await cache.flush() == 1
    assert watermark(stored(table, "a", 0)) == 1  # the flush wrote what was changed before it
    assert cache.changed == 1
    table.during_delivery = None
    assert await cache.flush() == 1
    assert watermark(stored(table, "a", 0)) == 2
    assert table.delivered == [(0, "a"), (0, "a")]


async def test_a_long_flush_lets_batches_run_and_still_writes_every_change() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10_000)
    users = [f"u{i}" for i in range(2 * FLUSH_YIELD_EVERY + 1)]
    for user in users:
        changed(cache, user, 0, "likes", 1)

    def batch_meanwhile() -> None:
        assert len(table.writes) == FLUSH_YIELD_EVERY  # the flush yielded part-way
        for user in users:
            changed(cache, user, 0, "likes", 2)

    flushing = asyncio.ensure_future(cache.flush())
    await asyncio.sleep(0)  # the flush runs to its first yield
    batch_meanwhile()
    assert await flushing == len(users)
    # users written before the batch changed them wait for the next flush; the others were
    # written with the batch's change
    assert cache.changed == FLUSH_YIELD_EVERY
    assert await cache.flush() == FLUSH_YIELD_EVERY
    assert {watermark(stored(table, user, 0)) for user in users} == {2}
    assert len(table.writes) == len(users) + FLUSH_YIELD_EVERY


def test_peek_serves_the_cached_state_or_the_table_without_caching() -> None:
    table = RecordingTable()
    cache = owned(table, capacity=10)
    changed(cache, "a", 0, "likes", 5)  # changed, not flushed: only the cache knows
    assert watermark(cache.peek("a", 0)) == 5
    assert cache.peek("ghost", 0) == StoredUser()
    assert len(cache) == 1


def test_marking_a_user_never_read_is_a_bug() -> None:
    cache = owned(RecordingTable(), capacity=10)
    with pytest.raises(KeyError):
        cache.mark_changed(["nobody"])


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        StateCache(RecordingTable(), capacity=0)
