"""The benchmark reads the worker's memory once its RSS holds still, not at the first quiet
moment (bench/probe.py `WorkerProbe.settled_rss_bytes`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest

from bench.probe import WorkerProbe

ProbeReading = Callable[[list[int]], WorkerProbe]


@pytest.fixture
async def probe_reading(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ProbeReading]:
    """Makes a probe of this process whose RSS readings are the given ones, then the last
    one again."""
    probe = WorkerProbe(metrics_port=1, pid=os.getpid())

    def reading(readings: list[int]) -> WorkerProbe:
        sequence = iter(readings)
        monkeypatch.setattr(probe, "rss_bytes", lambda: next(sequence, readings[-1]))
        return probe

    yield reading
    await probe.aclose()


async def test_the_reading_waits_for_the_allocator_to_return_freed_memory(
    probe_reading: ProbeReading,
) -> None:
    probe = probe_reading([910, 900, 323, 354, 323, 323, 323, 323])
    assert await probe.settled_rss_bytes(every_s=0.001) == 323


async def test_rss_that_keeps_moving_reads_as_the_median_of_the_last_four(
    probe_reading: ProbeReading,
) -> None:
    probe = probe_reading([300 + 100 * (i % 2) for i in range(10_000)])  # 300, 400, 300, ...
    assert await probe.settled_rss_bytes(every_s=0.001, deadline_s=0.05) == 350
