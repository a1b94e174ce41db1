"""Crash and resume in one process: the worker's gate, executor, state and commit protocol run
over an in-memory topic through kills, lost deliveries and transactions
(tests/support/memory_source.py), and every committed event counts exactly once.

The real-broker crash tests (tests/reliability) stay: they cover Faust's and aiokafka's side.
"""

from __future__ import annotations

import pytest

from tests.support.memory_source import (
    ABORT,
    LOST,
    Entry,
    MemoryTopic,
    Run,
    aborted,
    actors,
    expected_actors,
    like,
    marker,
    partition_of,
    raws,
    run_to_the_end,
)

USERS = [f"user-{i}" for i in range(24)]
"""Few enough likes per user that a card lists every actor (five at most)."""


def likes(count: int) -> list[Entry]:
    """`count` likes, round robin over USERS, each by an actor of its own."""
    return [like(f"e{i}", USERS[i % len(USERS)], f"fan-{i}") for i in range(count)]


def scripts(
    entries: list[Entry], faults: dict[int, list[tuple[int, str | Entry]]] | None = None
) -> dict[int, list[Entry | str]]:
    """Each partition's script: its users' entries in order, with `faults[partition]` inserted
    before the entry at each given index of that partition."""
    by_partition: dict[int, list[Entry | str]] = {}
    for entry in entries:
        by_partition.setdefault(partition_of(entry.key.decode()), []).append(entry)
    for partition, inserts in (faults or {}).items():
        for index, item in sorted(inserts, key=lambda x: x[0], reverse=True):
            by_partition[partition].insert(index, item)
    return by_partition


async def assert_counted_once(run: Run, entries: list[Entry]) -> None:
    """Every delivered like counted once: each card lists its actors, and its raw score is the
    one a run without faults gives (a like counted twice, or lost, changes it)."""
    assert actors(run) == expected_actors(entries)
    reference = await run_to_the_end(MemoryTopic(scripts(entries)))
    assert reference.crashes == []
    assert raws(run) == pytest.approx(raws(reference), abs=1e-9)


async def test_without_faults_every_event_counts_once() -> None:
    entries = likes(60)
    run = await run_to_the_end(MemoryTopic(scripts(entries)))
    assert run.crashes == []
    assert actors(run) == expected_actors(entries)


async def test_a_kill_mid_fetch_and_one_between_state_flush_and_commit_replay_exactly() -> None:
    entries = likes(80)
    topic = MemoryTopic(scripts(entries, {0: [(5, ABORT)], 2: [(9, ABORT)]}))
    run = await run_to_the_end(topic, die_at_commit=3)
    assert len(run.crashes) == 3
    assert any("killed at commit 3" in crash for crash in run.crashes)
    await assert_counted_once(run, entries)


async def test_lost_deliveries_mid_partition_and_at_its_end_are_fetched_again() -> None:
    entries = likes(48)
    counts = {p: len(s) for p, s in scripts(entries).items()}
    faults = {0: [(3, LOST)], 1: [(counts[1] - 1, LOST)], 3: [(0, LOST), (6, LOST)]}
    run = await run_to_the_end(MemoryTopic(scripts(entries, faults)))
    assert run.crashes == []
    await assert_counted_once(run, entries)


async def test_transaction_markers_and_aborted_records_are_stepped_over_even_at_the_end() -> None:
    entries = likes(40)
    stray = like("stray", USERS[0], "fan-aborted")  # in an aborted transaction
    home = partition_of(USERS[0])
    counts = {p: len(s) for p, s in scripts(entries).items()}
    faults = {
        home: [(2, aborted(stray)), (2, marker()), (counts[home], marker())],  # ends in a marker
        (home + 1) % 4: [(4, marker()), (4, ABORT)],
    }
    topic = MemoryTopic(scripts(entries, faults))
    run = await run_to_the_end(topic)
    assert len(run.crashes) == 1
    assert "fan-aborted" not in set().union(*actors(run).values())
    await assert_counted_once(run, [e for e in entries])
    assert run.broker.committed[topic.tp(home)] == len(topic.logs[home])  # past the marker
