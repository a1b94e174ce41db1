"""The changelog-backed table of per-user state and its write-behind cache.

The table holds, per target user, a `StoredUser` (app/step/stored_user.py: its codec, replay
watermark and fencing token) as orjson bytes (raw serializers, so Faust adds no codec work on the
hot path). The key is the raw user id: the same bytes producers key by, so changelog partitions
line up with the input partitions.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from app.step.stored_user import StoredUser
from streams import metrics

FLUSH_YIELD_EVERY = 256
"""Users a flush writes between two yields to the event loop, so batches never wait out a whole
flush."""


class TableAccess(Protocol):
    """Reads and writes one user's encoded state in a given partition of the table."""

    def read(self, partition: int, key: bytes) -> bytes | None:
        """The stored value, or None for a user the table does not know."""

    def write(self, partition: int, key: bytes, value: bytes) -> None:
        """Store `value` locally now; its changelog record goes out with the next `deliver`."""

    async def deliver(self) -> None:
        """Send the changelog records of every write so far; return once the broker has them."""


@dataclass(slots=True)
class _Entry:
    state: StoredUser
    partition: int
    dirty: bool = False


class StateCache:
    """Write-behind cache of decoded per-user state for the partitions this worker owns.

    A batch reads each user through `get` (decoded once, then kept) and reports the users it
    changed with `mark_changed`; the table sees one write per changed user per `flush`, however
    many batches changed it meanwhile. The rules that keep "acknowledged" meaning "durable":

    * `flush` runs before every offset commit (step 1 of streams/commit.py's `Checkpoint`) and
      returns once the changelog has every changed user, so any offset Kafka records has its
      effects in the table and changelog first;
    * the cache holds at most `capacity` users; the least recently used is evicted, and written
      first if it changed (`flush-before-evict`);
    * the cache writes only partitions it was given with `assign`, each value stamped with the
      generation of that assignment; on revocation (`release`) the partitions' users are
      dropped *without* a write: Faust's revocation commit has already flushed them if this
      worker was still the owner, and if it was not (paused past its session), anything left
      is a zombie's, which the next owner recomputes from the uncommitted offsets.

    Anything changed but not yet flushed when the process dies belongs to unacknowledged offsets,
    which Kafka delivers again; the applied-offset watermark makes that replay exact.
    """

    def __init__(self, table: TableAccess, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._table = table
        self._capacity = capacity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._dirty: set[str] = set()
        self._generations: dict[int, int] = {}
        # Seconds spent encoding and writing table values since the last flush (metrics.STAGES).
        self._timings = {"state_encoding": 0.0, "changelog": 0.0}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def capacity(self) -> int:
        """Most users kept; one batch part may touch at most this many (all stay cached)."""
        return self._capacity

    @property
    def changed(self) -> int:
        """Users changed since the last flush."""
        return len(self._dirty)

    def get(self, user_id: str, partition: int) -> StoredUser:
        """The user's state (decoded from the table on first use)."""
        entry = self._entries.get(user_id)
        if entry is not None and entry.partition == partition:
            self._entries.move_to_end(user_id)
            return entry.state
        if entry is not None:  # the user moved partition (topics re-created): reload
            self._write(user_id, entry)
            del self._entries[user_id]
        state = StoredUser.from_bytes(self._table.read(partition, user_id.encode()))
        self._entries[user_id] = _Entry(state, partition)
        self._evict_over_capacity()
        return state

    def peek(self, user_id: str, partition: int) -> StoredUser:
        """The user's current state without caching it (for the sweep's one-off reads)."""
        entry = self._entries.get(user_id)
        if entry is not None and entry.partition == partition:
            return entry.state
        return StoredUser.from_bytes(self._table.read(partition, user_id.encode()))

    def mark_changed(self, user_ids: Iterable[str]) -> None:
        """Record that these users' states (obtained from `get`) were changed."""
        for user_id in user_ids:
            entry = self._entries.get(user_id)
            if entry is None:
                raise KeyError(f"{user_id!r} is not in the cache; read it with get() first")
            entry.dirty = True
            self._dirty.add(user_id)

    async def flush(self) -> int:
        """Write every changed user to the table once and deliver the changelog records of all
        writes so far (evictions' too); returns how many changed users were written.

        The writes yield to the event loop every `FLUSH_YIELD_EVERY` users: a whole flush of
        thousands of users would otherwise hold every batch (the tail of the end-to-end
        latency). A batch that runs meanwhile may change a user this flush
        has not written yet (it is written with that change) or has written (it is marked for
        the next flush); either way every change made before the flush began is written.
        """
        written = 0
        dirty, self._dirty = self._dirty, set()
        for count, user_id in enumerate(dirty, 1):
            entry = self._entries.get(user_id)
            if entry is not None and entry.dirty:
                self._write(user_id, entry)
                written += 1
            if count % FLUSH_YIELD_EVERY == 0:
                await asyncio.sleep(0)
        with metrics.stage("changelog"):
            await self._table.deliver()
        for name, seconds in self._timings.items():
            metrics.STAGE_SECONDS.labels(stage=name).inc(seconds)
        self._timings = dict.fromkeys(self._timings, 0.0)
        return written

    def assign(self, partitions: Iterable[int], generation: int) -> None:
        """Own `partitions` as of consumer group `generation` (their values carry it)."""
        for partition in partitions:
            self._generations[partition] = generation

    def release(self, partitions: Iterable[int]) -> int:
        """Stop owning `partitions`: drop their users, changed or not, and write none of them.

        Returns how many changed users were dropped unwritten.
        """
        gone = set(partitions)
        for partition in gone:
            self._generations.pop(partition, None)
        dropped = 0
        for user_id in [u for u, e in self._entries.items() if e.partition in gone]:
            dropped += self._entries.pop(user_id).dirty
            self._dirty.discard(user_id)
        return dropped

    def generation(self, partition: int) -> int:
        """The fencing token of `partition` (-1 when not owned: such a card never wins)."""
        return self._generations.get(partition, -1)

    def _evict_over_capacity(self) -> None:
        while len(self._entries) > self._capacity:
            user_id, entry = self._entries.popitem(last=False)
            if entry.dirty:
                self._write(user_id, entry)

    def _write(self, user_id: str, entry: _Entry) -> None:
        generation = self._generations.get(entry.partition)
        if generation is None:
            # Acknowledged effects are never dropped silently: Faust would commit past them.
            raise RuntimeError(f"partition {entry.partition} is not assigned; not writing it")
        entry.state.generation = generation
        started = time.perf_counter()
        value = entry.state.to_bytes()
        encoded = time.perf_counter()
        self._table.write(entry.partition, user_id.encode(), value)
        self._timings["state_encoding"] += encoded - started
        self._timings["changelog"] += time.perf_counter() - encoded
        entry.dirty = False
        self._dirty.discard(user_id)
