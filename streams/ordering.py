"""Process every partition strictly in offset order, whatever Faust delivers.

Around a partition assignment Faust 0.15.3 sometimes does not deliver some messages of a
partition while it delivers later ones (a batch fetched before its "seek to committed offsets"
is still iterated after it, see docs/guarantees.md), and its offset bookkeeping then commits past
the missing messages. The signal table's replay check ("highest offset applied per user") is
only correct for in-order application. So:

* `InOrderGate.admit` takes each partition's messages of a batch in offset order, and lets a
  message through only if it is the next offset of its partition (or an older one, i.e. a
  redelivery the table will recognise); anything after a hole is held back and the partition
  is sought back to the hole, so the missing messages are delivered again;
* held-back messages are acknowledged by Faust's `take_events` anyway, so the gate removes those
  acknowledgements on its next call, and the worker consumer's commit guard
  (`faust_compat.guarded_new_offset`) makes Faust's choice of the offset to commit stop at the
  first offset the gate has not let through (and never treat a jump in offsets as processed).

Transactional producers leave offsets that are never delivered: a commit or abort marker after
each transaction, and (read with isolation level read_committed, as the worker reads its input)
the records of aborted transactions. Such a gap is told from a hole by asking the broker: a
separate read_committed reader (`CommittedReader`) fetches the partition's offsets from the first
missing one to the last one delivered; offsets it does not return either are the gaps, which the
gate steps over and acknowledges (so Faust commits past them), while offsets it does return are a
hole as above. Only partitions whose batch has a jump are asked, once per batch.

A hole with nothing after it shows in no batch: Faust can drop the rest of a partition (seen after
a kill: a successor's partition stalled at its committed offset while the log held 189 more
records), and the commit guard then keeps the offset there, but nothing re-reads them. So
`InOrderGate.find_stalled`, run on a timer, treats as a hole every owned input partition whose
log held records after the next expected offset STALLED_AFTER_S ago with none delivered since
(the same read_committed question tells a trailing transaction marker from a record).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.types import EventT

from streams import metrics
from streams.faust_compat import (
    acknowledge,
    commit_limits,
    committed_offset,
    delivered_past,
    held_back,
    withdraw_acks,
)

log = logging.getLogger(__name__)

RESEEK_AFTER_S = 5.0
"""A hole still open this long after its seek is sought again (the seek can be overtaken)."""

LOG_START_TIMEOUT_S = 10.0
"""How long to wait for the broker's log start offsets of a partition without a commit."""

GAP_PROBE_TIMEOUT_S = 10.0
"""How long the read_committed reader may take to say which offsets of a jump it delivers."""

STALLED_AFTER_S = 4.0
"""Records in a partition's log this long and still not delivered make it stalled: sought back
(less than the reseek timer's interval, so two ticks apart are enough)."""

STALLED_AFTER_FETCHES = 2
"""...and Faust's fetch loop has completed this many fetches meanwhile: one that began after the
records were in the log. While the loop spends seconds delivering one large batch (a takeover's
backlog of other partitions into a full stream buffer) it fetches nothing, so a partition that
gets nothing meanwhile is not stalled (a scale-out crash run: 17 partitions taken for stalled)."""


def _in_offset_order(batch: Sequence[EventT[bytes]]) -> list[EventT[bytes]]:
    """`batch` with each partition's events in offset order, in the places the partition's
    events take in the batch.

    After a seek, records fetched before it can still reach a batch ahead of the ones the seek
    fetched (`5 6 0 1 2 3 4 5 6` after a seek to 0); in offset order, the hole fills in this batch
    rather than at the next seek. Repeats stay (the executor keeps one per position).
    """
    by_partition: dict[Any, list[EventT[bytes]]] = {}
    for event in batch:
        by_partition.setdefault(event.message.tp, []).append(event)
    sorted_events = {
        tp: iter(sorted(events, key=lambda e: e.message.offset))
        for tp, events in by_partition.items()
    }
    return [next(sorted_events[event.message.tp]) for event in batch]


class CommittedReader:
    """Which offsets a read_committed consumer delivers in given ranges: the broker's answer to
    "transaction marker / aborted record, or a message Faust failed to deliver?"."""

    def __init__(self, client_kwargs: Mapping[str, Any]) -> None:
        self._client_kwargs = dict(client_kwargs)
        self._consumer: AIOKafkaConsumer | None = None

    async def delivered(self, ranges: Mapping[Any, tuple[int, int]]) -> dict[Any, set[int]]:
        """For each partition, the offsets in [first, last] that read_committed delivers."""
        consumer = await self._started()
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in ranges}
        consumer.assign(list(partitions.values()))
        for tp, (first, _) in ranges.items():
            consumer.seek(partitions[tp], first)
        found: dict[Any, set[int]] = {tp: set() for tp in ranges}
        pending = set(ranges)
        deadline = time.monotonic() + GAP_PROBE_TIMEOUT_S
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no read_committed answer for {sorted(pending)}")
            fetched = await consumer.getmany(
                *(partitions[tp] for tp in pending), timeout_ms=200, max_records=10_000
            )
            for tp in list(pending):
                last = ranges[tp][1]
                for record in fetched.get(partitions[tp], ()):
                    if record.offset <= last:
                        found[tp].add(record.offset)
                if await consumer.position(partitions[tp]) > last:
                    pending.discard(tp)
        return found

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self._client_kwargs,
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        """Close the reader's connections (at worker shutdown)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


class InOrderGate:
    """Per-partition offset order for the scoring agent (see the module docstring)."""

    def __init__(
        self,
        consumer: Callable[[], Any],
        generation: Callable[[], int],
        committed_reader: CommittedReader | None = None,
        *,
        input_topics: Collection[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._generation = generation
        self._reader = committed_reader
        self._inputs = frozenset(input_topics)
        self._clock = clock
        self._lock = asyncio.Lock()  # admit and find_stalled share the state and the reader
        self._seen_generation: int | None = None
        self._expected: dict[Any, int] = {}  # per partition, the next offset to let through
        self._held: dict[Any, set[int]] = {}
        self._holes: dict[Any, tuple[int, float]] = {}
        self._gaps: dict[Any, set[int]] = {}
        # per partition: (next expected offset, records after it in the log?, since, log end,
        # the fetch loop's completed fetches then)
        self._progress: dict[Any, tuple[int, bool, float, int, int]] = {}

    async def admit(self, batch: Sequence[EventT[bytes]]) -> list[EventT[bytes]]:
        """The events of `batch` that may be processed now, in batch order."""
        async with self._lock:
            return await self._admit(batch)

    def _follow_generation(self, consumer: Any) -> None:
        """After a rebalance, start again from the commits."""
        generation = self._generation()
        if generation != self._seen_generation:
            self._seen_generation = generation
            self._expected.clear()
            self._held.clear()
            self._holes.clear()
            self._gaps.clear()
            self._progress.clear()
            commit_limits(consumer).clear()

    async def _admit(self, batch: Sequence[EventT[bytes]]) -> list[EventT[bytes]]:
        consumer = self._consumer()
        self._follow_generation(consumer)
        limits = commit_limits(consumer)
        self._unacknowledge_held(consumer)
        await self._start_new_partitions(consumer, batch)
        await self._find_gaps(batch)
        admitted = []
        blocked: set[Any] = set()
        next_offset = self._expected
        for event in _in_offset_order(batch):
            message = event.message
            tp = message.tp
            expected = next_offset[tp]
            if tp not in blocked:
                expected = self._step_over_gaps(consumer, tp, expected)
            if tp not in blocked and message.offset <= expected:
                admitted.append(event)
                expected = max(expected, message.offset + 1)
            else:
                if tp not in blocked:
                    blocked.add(tp)
                    limits[tp] = expected
                    if self._holes.get(tp, (None, 0.0))[0] != expected:
                        self._holes[tp] = (expected, 0.0)  # new hole: seek at once
                        metrics.HOLES_FOUND.labels(cause="skipped").inc()
                self._held.setdefault(tp, set()).add(message.offset)
            next_offset[tp] = expected
        for tp in list(self._holes):
            if tp not in blocked and next_offset.get(tp, 0) > self._holes[tp][0]:
                del self._holes[tp]  # filled
                limits.pop(tp, None)
        return admitted

    async def find_stalled(self) -> None:
        """Treat as a hole each owned input partition whose log held records from the next
        expected offset on STALLED_AFTER_S ago, none of them delivered since (see the module
        docstring); `seek_holes` then seeks it back.

        The clock of a partition starts when its log holds records after the next expected
        offset, and starts again whenever that offset moves, Faust has delivered messages
        after it (they wait in the stream's buffer behind a backlog) or Faust holds the
        partition back until that buffer drains: records that just arrived, or that wait for
        the agent, are not a stall; nor is a partition before Faust's fetch loop has completed
        STALLED_AFTER_FETCHES fetches since its clock started.
        """
        async with self._lock:
            consumer = self._consumer()
            self._follow_generation(consumer)
            owned = {tp for tp in consumer.assignment() if tp.topic in self._inputs}
            await self._start(consumer, {tp: None for tp in owned - self._expected.keys()})
            now, fetches = self._clock(), consumer.completed_fetches
            stalled: dict[Any, tuple[int, int]] = {}
            for tp in owned & self._expected.keys():
                expected = self._expected[tp]
                end = consumer.readable_end(tp)
                pending = end is not None and end > expected
                seen = self._progress.get(tp)
                # in the stream's buffer, or not fetched until it drains
                waiting = delivered_past(consumer, tp, expected) or held_back(consumer, tp)
                if seen is None or seen[0] != expected or not seen[1] or waiting:
                    # the clock starts when records after the next expected one are in the log
                    self._progress[tp] = (expected, pending, now, end or 0, fetches)
                    continue
                _, _, since, end_then, fetches_then = seen
                if (
                    now - since >= STALLED_AFTER_S
                    and fetches - fetches_then >= STALLED_AFTER_FETCHES
                    and tp not in self._holes
                ):
                    stalled[tp] = (expected, end_then - 1)  # what was there a while ago
            if not stalled:
                return
            await self._ask_for_gaps(stalled)
            for tp, (first, last) in stalled.items():
                expected = self._step_over_gaps(consumer, tp, first)
                self._expected[tp] = expected
                if expected <= last:
                    log.warning(
                        "%s: nothing delivered from offset %d while the log holds up to %d",
                        tp,
                        expected,
                        last,
                    )
                    self._holes[tp] = (expected, 0.0)
                    commit_limits(consumer)[tp] = expected
                    metrics.HOLES_FOUND.labels(cause="stalled").inc()

    def restart_stall_clocks(self) -> None:
        """Count no partition as stalled for the time so far (the agent itself was held up)."""
        self._progress.clear()

    async def _find_gaps(self, batch: Sequence[EventT[bytes]]) -> None:
        """Ask the broker which missing offsets of this batch's jumps read_committed skips too.

        A partition is asked about [next expected, last delivered] when the batch does not hold
        every offset of that range; an unanswered question leaves the jump a hole (held back,
        sought again, asked again with the next batch).
        """
        if self._reader is None:
            return
        delivered: dict[Any, set[int]] = {}
        for event in batch:
            delivered.setdefault(event.message.tp, set()).add(event.message.offset)
        ranges = {}
        for tp, offsets in delivered.items():
            first, last = self._expected[tp], max(offsets)
            wanted = set(range(first, last + 1)) - self._gaps.get(tp, set())
            if not wanted <= offsets:
                ranges[tp] = (first, last)
        await self._ask_for_gaps(ranges)

    async def _ask_for_gaps(self, ranges: Mapping[Any, tuple[int, int]]) -> None:
        """Record as gaps the offsets of `ranges` the read_committed reader does not deliver
        (none when it cannot answer)."""
        if not ranges or self._reader is None:
            return
        try:
            committed = await self._reader.delivered(ranges)
        except (TimeoutError, KafkaError) as exc:
            log.warning("could not tell transaction gaps from holes in %s: %r", sorted(ranges), exc)
            return
        for tp, (first, last) in ranges.items():
            self._gaps.setdefault(tp, set()).update(set(range(first, last + 1)) - committed[tp])

    def _step_over_gaps(self, consumer: Any, tp: Any, expected: int) -> int:
        """The first offset at or after `expected` that is not a transaction gap; the gaps
        stepped over are acknowledged, as Faust acknowledges a processed message."""
        gaps = self._gaps.get(tp)
        if not gaps:
            return expected
        committed = committed_offset(consumer, tp)
        while expected in gaps:
            gaps.discard(expected)
            if committed is None or expected >= committed:
                acknowledge(consumer, tp, expected)
            expected += 1
        return expected

    async def _start_new_partitions(self, consumer: Any, batch: Sequence[EventT[bytes]]) -> None:
        """Expect each newly seen partition's first message at its committed offset."""
        started = self._expected  # one lookup, not one per event
        first: dict[Any, int | None] = {}
        for event in batch:
            tp = event.message.tp
            if tp not in started and tp not in first:
                first[tp] = event.message.offset
        await self._start(consumer, first)

    async def _start(self, consumer: Any, first_delivered: Mapping[Any, int | None]) -> None:
        """Set where each of these partitions starts: its committed offset, else its log start.

        Faust leaves the committed offset unset when there is none (and when it is 0); the group
        then starts at the log start offset (`auto_offset_reset="earliest"`). That is 0 on a
        topic retention has not trimmed, so the broker is asked only when the first message
        delivered is not at offset 0 (or none was): taking it as the start would wave a hole
        through. Unanswered, the first offset delivered is taken (a partition without one stays
        unstarted).
        """
        unknown = []
        for tp, offset in first_delivered.items():
            committed = committed_offset(consumer, tp)
            if committed is not None or offset == 0:
                self._expected[tp] = 0 if committed is None else committed
            else:
                unknown.append(tp)
        if not unknown:
            return
        try:
            starts = await asyncio.wait_for(
                consumer.earliest_offsets(*unknown), LOG_START_TIMEOUT_S
            )
            self._expected.update({tp: int(starts[tp]) for tp in unknown})
        except (TimeoutError, KafkaError, KeyError) as exc:
            log.warning("log start offsets of %s unknown (%r)", unknown, exc)
            for tp in unknown:
                offset = first_delivered[tp]
                if offset is not None:
                    self._expected[tp] = offset

    def _unacknowledge_held(self, consumer: Any) -> None:
        """Withdraw the acknowledgements Faust gave to held-back messages after the last batch."""
        for tp, offsets in self._held.items():
            withdraw_acks(consumer, tp, offsets)
        self._held.clear()

    async def seek_holes(self) -> None:
        """Seek each partition with a hole back to it (at once, then every RESEEK_AFTER_S).

        Through `seek_wait`, which runs the seek in the consumer's own thread and sets Faust's
        read offset there (the plain `seek` calls aiokafka from this thread; with it a survivor
        stopped fetching altogether in one crash run).
        """
        consumer = self._consumer()
        now = self._clock()
        due = {}
        for tp, (offset, sought_at) in list(self._holes.items()):
            if now - sought_at < RESEEK_AFTER_S:
                continue
            log.warning(
                "%s: offset %d was not delivered before later ones; seeking back", tp, offset
            )
            self._holes[tp] = (offset, now)
            due[tp] = offset
        if due:
            await consumer.seek_wait(due)
