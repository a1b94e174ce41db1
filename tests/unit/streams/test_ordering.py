"""The in-order gate and the commit guard, against a stand-in for Faust's consumer bookkeeping.

The stand-in has exactly the attributes the gate and the guard read and write (through
streams/faust_compat.py) on Faust's `Consumer` (`_committed_offset`, `_acked`, `_acked_index`,
`seek_wait`, `earliest_offsets`, `assignment`, `_read_offset`, `_buffered_partitions`) and the
worker consumer's `readable_end`; `acknowledge` does what Faust's `take_events` does after the
agent returns: ack every message of the batch, admitted or not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.types import TP
from prometheus_client import REGISTRY

from streams.faust_compat import guarded_new_offset
from streams.ordering import STALLED_AFTER_S, InOrderGate

LIKES = TP("likes", 3)
SHARES = TP("shares", 3)


class FakeConsumer:
    def __init__(self, committed: Mapping[TP, int] | None = None, log_start: int = 0) -> None:
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset.update(committed or {})
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self.log_start = log_start
        self.sought: list[dict[TP, int]] = []
        self.broker_down = False
        self.assigned: set[TP] = set()
        self.ends: dict[TP, int] = {}
        self._read_offset: dict[TP, int] = {}  # the last offset Faust delivered to the streams
        self._buffered_partitions: set[TP] = set()  # not fetched: the stream's buffer is full
        self.fetch_loop_stuck = False  # delivering one large batch: no fetch completes
        self._fetches = 0

    def assignment(self) -> set[TP]:
        return self.assigned

    @property
    def completed_fetches(self) -> int:
        """Two fetches complete between two reads (timer ticks), unless the loop is stuck."""
        if not self.fetch_loop_stuck:
            self._fetches += 2
        return self._fetches

    def readable_end(self, tp: TP) -> int | None:
        return self.ends.get(tp)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        self.sought.append(dict(partitions))

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        if self.broker_down:
            raise KafkaTimeoutError()
        return {tp: self.log_start for tp in partitions}

    def commit_elsewhere(self, tp: TP, offset: int) -> None:
        """Another member (or an earlier generation) committed `tp` up to `offset`."""
        self._committed_offset[tp] = offset

    def deliver_up_to(self, tp: TP, offset: int) -> None:
        """Faust's fetch loop delivered `tp` up to `offset` (or sought back to it)."""
        self._read_offset[tp] = offset

    def hold_back(self, *tps: TP) -> None:
        """Faust stops fetching `tps` until their stream's buffer drains."""
        self._buffered_partitions = set(tps)

    def acknowledge(self, batch: list[Any]) -> None:
        for event in batch:
            tp, offset = event.message.tp, event.message.offset
            if offset not in self._acked_index[tp]:
                self._acked_index[tp].add(offset)
                self._acked[tp].append(offset)

    def commit_offset(self, tp: TP) -> int | None:
        """What Faust would commit for `tp` now (with the guard installed), then committed."""
        offset = guarded_new_offset(self, tp)
        if offset is not None:
            self._committed_offset[tp] = offset
        return offset


def deliveries(tp: TP, *offsets: int) -> list[Any]:
    return [SimpleNamespace(message=SimpleNamespace(tp=tp, offset=o)) for o in offsets]


def offsets(events: list[Any]) -> list[int]:
    return [e.message.offset for e in events]


async def admitted_and_committed(
    gate: InOrderGate, consumer: FakeConsumer, batch: list[Any]
) -> tuple[list[int], int | None]:
    """Admit `batch`, acknowledge all of it as take_events does, then commit its partition:
    (the offsets admitted, the offset committed)."""
    admitted = offsets(await gate.admit(batch))
    consumer.acknowledge(batch)
    return admitted, consumer.commit_offset(batch[0].message.tp)


class Rebalances:
    generation = 1


@pytest.fixture
def rebalances() -> Rebalances:
    return Rebalances()


def gate_for(consumer: FakeConsumer, rebalances: Rebalances) -> InOrderGate:
    return InOrderGate(lambda: consumer, lambda: rebalances.generation, input_topics=())


@pytest.mark.parametrize("delivered", [(10, 11, 12), (10, 12, 11)], ids=["in order", "11 last"])
async def test_a_batch_passes_in_offset_order_from_the_committed_offset_and_commits(
    rebalances: Rebalances, delivered: tuple[int, ...]
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    batch = deliveries(LIKES, *delivered)

    assert offsets(await gate.admit(batch)) == [10, 11, 12]
    await gate.seek_holes()
    consumer.acknowledge(batch)

    assert consumer.sought == []
    assert consumer.commit_offset(LIKES) == 13


async def test_a_hole_holds_later_messages_back_seeks_to_it_and_commits_nothing_past_it(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    first = deliveries(LIKES, 10, 12, 13)  # 11 was not delivered

    assert offsets(await gate.admit(first)) == [10]
    await gate.seek_holes()
    consumer.acknowledge(first)  # take_events acks the held-back 12 and 13 too

    assert consumer.sought == [{LIKES: 11}]
    assert consumer.commit_offset(LIKES) == 11

    second = deliveries(LIKES, 11, 12, 13)  # after the seek
    assert await admitted_and_committed(gate, consumer, second) == ([11, 12, 13], 14)


async def test_records_fetched_before_a_seek_do_not_hold_back_those_it_fetched(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    assert await gate.admit(deliveries(LIKES, 13, 14)) == []  # 10..12 missing: seek to 10
    await gate.seek_holes()
    assert consumer.sought == [{LIKES: 10}]

    # Faust still hands over 15 from before the seek, then the seek's 10..15; shares between.
    batch = deliveries(LIKES, 15) + deliveries(SHARES, 0) + deliveries(LIKES, *range(10, 16))
    consumer.commit_elsewhere(SHARES, 0)
    admitted = await gate.admit(batch)

    assert [(e.message.tp, e.message.offset) for e in admitted] == [
        (LIKES, 10),
        (SHARES, 0),
        *((LIKES, offset) for offset in range(11, 16)),
        (LIKES, 15),  # the repeat stays, next to its twin (the executor keeps one)
    ]


async def test_held_back_acknowledgements_are_withdrawn_so_a_later_hole_fill_cannot_commit_them(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    first = deliveries(LIKES, 12, 13)
    assert await gate.admit(first) == []
    consumer.acknowledge(first)

    # 10 and 11 arrive, but 12 and 13 are not delivered again in this batch.
    second = deliveries(LIKES, 10, 11)
    assert offsets(await gate.admit(second)) == [10, 11]
    consumer.acknowledge(second)

    assert consumer.commit_offset(LIKES) == 12, "12 and 13 were never processed"


async def test_a_hole_in_one_partition_does_not_hold_back_another(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10, SHARES: 0})
    gate = gate_for(consumer, rebalances)
    batch = deliveries(LIKES, 11) + deliveries(SHARES, 0, 1)

    assert offsets(await gate.admit(batch)) == [0, 1]
    assert [e.message.tp for e in await gate.admit(deliveries(SHARES, 2))] == [SHARES]


async def test_a_redelivery_of_an_older_message_passes_for_the_table_to_recognise(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    await gate.admit(deliveries(LIKES, 10, 11))

    assert offsets(await gate.admit(deliveries(LIKES, 10, 11, 12))) == [10, 11, 12]


async def test_without_a_commit_the_partition_starts_at_its_log_start_not_at_what_arrives(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer()  # no committed offset: Faust leaves it unset
    gate = gate_for(consumer, rebalances)

    assert await gate.admit(deliveries(LIKES, 4, 5)) == []
    await gate.seek_holes()
    assert consumer.sought == [{LIKES: 0}]


async def test_a_trimmed_log_without_a_commit_starts_at_its_log_start(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer(log_start=4)
    gate = gate_for(consumer, rebalances)

    assert offsets(await gate.admit(deliveries(LIKES, 4, 5))) == [4, 5]


async def test_an_unanswered_log_start_falls_back_to_the_first_message_delivered(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer()
    consumer.broker_down = True
    gate = gate_for(consumer, rebalances)

    assert offsets(await gate.admit(deliveries(LIKES, 4, 5))) == [4, 5]


async def test_a_rebalance_starts_again_from_the_committed_offsets(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_for(consumer, rebalances)
    await gate.admit(deliveries(LIKES, 10, 11, 12))

    rebalances.generation += 1
    consumer.commit_elsewhere(LIKES, 11)  # another member committed up to 11 meanwhile
    assert offsets(await gate.admit(deliveries(LIKES, 11, 12))) == [11, 12]


def test_the_commit_guard_never_commits_a_jump_in_offsets() -> None:
    consumer = FakeConsumer({LIKES: 10})
    consumer.acknowledge(deliveries(LIKES, 12, 13))

    assert consumer.commit_offset(LIKES) is None, "10 and 11 were not acknowledged"


class FakeCommittedReader:
    """What a read_committed consumer would deliver: every offset except the given gaps."""

    def __init__(self, gaps: Mapping[TP, set[int]], *, down: bool = False) -> None:
        self.gaps = gaps
        self.down = down
        self.asked: list[dict[TP, tuple[int, int]]] = []

    async def delivered(self, ranges: Mapping[TP, tuple[int, int]]) -> dict[TP, set[int]]:
        self.asked.append(dict(ranges))
        if self.down:
            raise TimeoutError("no answer")
        return {
            tp: set(range(first, last + 1)) - self.gaps.get(tp, set())
            for tp, (first, last) in ranges.items()
        }


def gate_reading(
    consumer: FakeConsumer, rebalances: Rebalances, reader: FakeCommittedReader
) -> InOrderGate:
    return InOrderGate(lambda: consumer, lambda: rebalances.generation, reader, input_topics=())


async def test_transaction_markers_and_aborted_records_are_stepped_over_and_committed_past(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    reader = FakeCommittedReader({LIKES: {12, 15, 16, 17}})  # a marker; aborted records + marker
    gate = gate_reading(consumer, rebalances, reader)
    batch = deliveries(LIKES, 10, 11, 13, 14, 18)

    assert offsets(await gate.admit(batch)) == [10, 11, 13, 14, 18]
    await gate.seek_holes()
    consumer.acknowledge(batch)

    assert reader.asked == [{LIKES: (10, 18)}]
    assert consumer.sought == []
    assert consumer.commit_offset(LIKES) == 19


async def test_a_marker_at_the_committed_offset_is_stepped_over(rebalances: Rebalances) -> None:
    consumer = FakeConsumer({LIKES: 12})  # committed just before a commit marker at 12
    gate = gate_reading(consumer, rebalances, FakeCommittedReader({LIKES: {12}}))
    batch = deliveries(LIKES, 13, 14)

    assert offsets(await gate.admit(batch)) == [13, 14]
    consumer.acknowledge(batch)
    assert consumer.commit_offset(LIKES) == 15


async def test_an_offset_the_broker_still_delivers_is_a_hole_not_a_gap(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_reading(consumer, rebalances, FakeCommittedReader({LIKES: {13}}))
    batch = deliveries(LIKES, 10, 12, 14)  # 11 is a real record Faust did not deliver

    assert offsets(await gate.admit(batch)) == [10]
    await gate.seek_holes()
    consumer.acknowledge(batch)

    assert consumer.sought == [{LIKES: 11}]
    assert consumer.commit_offset(LIKES) == 11


async def test_an_unanswered_question_leaves_the_jump_a_hole(rebalances: Rebalances) -> None:
    consumer = FakeConsumer({LIKES: 10})
    gate = gate_reading(consumer, rebalances, FakeCommittedReader({LIKES: {11}}, down=True))
    batch = deliveries(LIKES, 10, 12)

    assert offsets(await gate.admit(batch)) == [10]
    consumer.acknowledge(batch)
    assert consumer.commit_offset(LIKES) == 11


async def test_a_contiguous_batch_asks_the_broker_nothing(rebalances: Rebalances) -> None:
    consumer = FakeConsumer({LIKES: 10})
    reader = FakeCommittedReader({})
    gate = gate_reading(consumer, rebalances, reader)

    assert offsets(await gate.admit(deliveries(LIKES, 10, 11, 12))) == [10, 11, 12]
    assert reader.asked == []


# -- a partition that stops delivering short of its end ------------------------------------------

CHANGELOG = TP("signals-changelog", 3)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def watching_gate(
    consumer: FakeConsumer, rebalances: Rebalances, reader: FakeCommittedReader | None = None
) -> tuple[InOrderGate, Clock]:
    clock = Clock()
    gate = InOrderGate(
        lambda: consumer,
        lambda: rebalances.generation,
        reader,
        input_topics={"likes", "shares"},
        clock=clock,
    )
    return gate, clock


def owning_likes(*, committed: int, end: int) -> FakeConsumer:
    """A consumer that owns LIKES, committed at `committed`, its log ending at `end`."""
    consumer = FakeConsumer({LIKES: committed})
    consumer.assigned = {LIKES}
    consumer.ends = {LIKES: end}
    return consumer


async def tick(gate: InOrderGate) -> None:
    """One tick of the worker's reseek timer."""
    await gate.find_stalled()
    await gate.seek_holes()


def stalls_counted() -> float:
    return REGISTRY.get_sample_value("clout_partition_holes_total", {"cause": "stalled"}) or 0.0


async def stall_ticks(gate: InOrderGate, clock: Clock) -> None:
    """Two timer ticks STALLED_AFTER_S apart, each seeking what it found."""
    for _ in range(2):
        await tick(gate)
        clock.now += STALLED_AFTER_S


async def test_a_partition_that_stops_short_of_its_end_is_sought_back(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    consumer.assigned = {LIKES}
    gate, clock = watching_gate(consumer, rebalances)
    first = deliveries(LIKES, 10, 11)
    assert offsets(await gate.admit(first)) == [10, 11]
    consumer.acknowledge(first)
    consumer.ends[LIKES] = 20  # 12..19 are in the log; nothing after 11 ever arrives
    stalls_before = stalls_counted()

    await stall_ticks(gate, clock)

    assert consumer.sought == [{LIKES: 12}]
    assert stalls_counted() == stalls_before + 1
    assert consumer.commit_offset(LIKES) == 12
    refill = deliveries(LIKES, *range(12, 20))
    assert await admitted_and_committed(gate, consumer, refill) == (list(range(12, 20)), 20)


async def test_an_owned_partition_that_never_delivered_is_sought_to_its_committed_offset(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 157})
    consumer.assigned = {LIKES, CHANGELOG}
    consumer.ends = {LIKES: 346, CHANGELOG: 900}
    gate, clock = watching_gate(consumer, rebalances)

    await stall_ticks(gate, clock)

    assert consumer.sought == [{LIKES: 157}], "only input partitions are the gate's"


async def test_a_partition_at_its_end_or_still_advancing_is_not_sought(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10, SHARES: 10})
    consumer.assigned = {LIKES, SHARES}
    consumer.ends = {LIKES: 12, SHARES: 30}
    gate, clock = watching_gate(consumer, rebalances)
    await gate.admit(deliveries(LIKES, 10, 11) + deliveries(SHARES, 10))

    for offset in range(11, 14):  # shares advances between ticks, likes is at its end
        await tick(gate)
        clock.now += STALLED_AFTER_S
        await gate.admit(deliveries(SHARES, offset))

    assert consumer.sought == []


async def test_a_stall_at_trailing_transaction_markers_is_stepped_over_not_sought(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    consumer.assigned = {LIKES}
    consumer.ends = {LIKES: 13}  # 12 is the last transaction's commit marker
    reader = FakeCommittedReader({LIKES: {12}})
    gate, clock = watching_gate(consumer, rebalances, reader)
    batch = deliveries(LIKES, 10, 11)
    assert await admitted_and_committed(gate, consumer, batch) == ([10, 11], 12)

    await stall_ticks(gate, clock)

    assert reader.asked == [{LIKES: (12, 12)}]
    assert consumer.sought == []
    assert consumer.commit_offset(LIKES) == 13


async def test_time_the_agent_was_held_up_does_not_count_as_a_stall(
    rebalances: Rebalances,
) -> None:
    consumer = owning_likes(committed=10, end=20)
    gate, clock = watching_gate(consumer, rebalances)
    await gate.find_stalled()
    clock.now += 3 * STALLED_AFTER_S  # a batch stuck in Redis retries all this time

    gate.restart_stall_clocks()
    await tick(gate)
    assert consumer.sought == []

    clock.now += STALLED_AFTER_S
    await tick(gate)
    assert consumer.sought == [{LIKES: 10}]


async def test_a_partition_whose_messages_wait_in_the_stream_buffer_is_not_stalled(
    rebalances: Rebalances,
) -> None:
    consumer = owning_likes(committed=10, end=20)
    gate, clock = watching_gate(consumer, rebalances)
    await gate.admit(deliveries(LIKES, 10))
    consumer.deliver_up_to(LIKES, 15)  # 11..15 delivered to the stream; the agent is behind

    await stall_ticks(gate, clock)
    assert consumer.sought == []

    consumer.deliver_up_to(LIKES, 11)  # sought back to 11 (Faust sets the offset sought to)
    await stall_ticks(gate, clock)
    assert consumer.sought == [{LIKES: 11}]


async def test_records_that_just_arrived_after_an_idle_spell_are_not_a_stall(
    rebalances: Rebalances,
) -> None:
    consumer = FakeConsumer({LIKES: 10})
    consumer.assigned = {LIKES}
    consumer.ends = {LIKES: 10}  # nothing to read
    gate, clock = watching_gate(consumer, rebalances)
    await stall_ticks(gate, clock)

    consumer.ends[LIKES] = 25  # traffic starts just before a tick
    await tick(gate)
    assert consumer.sought == []

    clock.now += STALLED_AFTER_S  # still nothing delivered
    await tick(gate)
    assert consumer.sought == [{LIKES: 10}]


async def test_a_partition_faust_holds_back_for_a_full_buffer_is_not_stalled(
    rebalances: Rebalances,
) -> None:
    consumer = owning_likes(committed=10, end=20)
    consumer.hold_back(LIKES)  # a backlog: Faust fetches it once the buffer drains
    gate, clock = watching_gate(consumer, rebalances)

    await stall_ticks(gate, clock)
    assert consumer.sought == []

    consumer.hold_back()
    await stall_ticks(gate, clock)
    assert consumer.sought == [{LIKES: 10}]


async def test_a_partition_is_not_stalled_while_fausts_fetch_loop_delivers_one_large_batch(
    rebalances: Rebalances,
) -> None:
    consumer = owning_likes(committed=10, end=20)
    consumer.fetch_loop_stuck = True  # a takeover's backlog of other partitions, buffer full
    gate, clock = watching_gate(consumer, rebalances)

    await stall_ticks(gate, clock)
    await stall_ticks(gate, clock)
    assert consumer.sought == []

    consumer.fetch_loop_stuck = False  # fetches complete again, and bring nothing for likes
    await stall_ticks(gate, clock)
    assert consumer.sought == [{LIKES: 10}]
