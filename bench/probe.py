"""Watching the worker from outside: its Prometheus counters, its process, its Redis stats.

The counters are read over HTTP from the worker's own `/metrics` endpoint (the same numbers an
operator scrapes); the process figures (RSS, CPU seconds) come from the operating system.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from streams import metrics
from streams.executor import DUPLICATE_REASON


def _sample_name(metric: MetricWrapperBase, suffix: str) -> str:
    """What a sample of the worker's `metric` is called in a scrape (family name + suffix)."""
    (family,) = metric.describe()
    return str(family.name) + suffix


CONSUMED = _sample_name(metrics.EVENTS_CONSUMED, "_total")
COUNTED = _sample_name(metrics.EVENTS_COUNTED, "_total")
DUPLICATES = _sample_name(metrics.DUPLICATES, "_total")
DEAD_LETTERS = _sample_name(metrics.DEAD_LETTERS, "_total")
REPLAYS = _sample_name(metrics.REPLAYS_SKIPPED, "_total")
REKEYED = _sample_name(metrics.REKEYED, "_total")
BATCHES = _sample_name(metrics.BATCH_SECONDS, "_count")
BATCH_SECONDS = _sample_name(metrics.BATCH_SECONDS, "_sum")
WATCHED = (CONSUMED, COUNTED, DUPLICATES, DEAD_LETTERS, REPLAYS, REKEYED, BATCHES, BATCH_SECONDS)
STAGE_SECONDS = _sample_name(metrics.STAGE_SECONDS, "_total")
DUPLICATE_DEAD_LETTERS = "dead_letters_of_duplicates"
"""Our own total: the dead letters whose reason is the executor's DUPLICATE_REASON (a worker
that also forwards dropped repeats)."""


class CountMismatch(RuntimeError):
    """The worker's counters disagree with what the benchmark sent: no figure is reported."""


@dataclass(frozen=True, slots=True)
class Ledger:
    """What the worker must have seen: every message, the events it must count, the repeats."""

    consumed: int = 0
    counted: int = 0
    duplicates: int = 0

    def plus(self, consumed: int, counted: int, duplicates: int) -> Ledger:
        """The ledger after another batch of sent events."""
        return Ledger(
            self.consumed + consumed, self.counted + counted, self.duplicates + duplicates
        )


class WorkerProbe:
    """Reads one worker's counters (summed over labels) and its process figures."""

    def __init__(self, metrics_port: int, pid: int) -> None:
        self._url = f"http://127.0.0.1:{metrics_port}/metrics"
        # identity: spare the worker gzip-compressing every scrape
        self._http = httpx.AsyncClient(timeout=5.0, headers={"Accept-Encoding": "identity"})
        self.process = psutil.Process(pid)

    async def counters(self) -> dict[str, float]:
        """Current value of each watched counter (0 when it has no sample yet)."""
        response = await self._http.get(self._url)
        response.raise_for_status()
        totals = dict.fromkeys((*WATCHED, DUPLICATE_DEAD_LETTERS), 0.0)
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name in totals:
                    totals[sample.name] += sample.value
                if sample.name == DEAD_LETTERS and sample.labels.get("reason") == DUPLICATE_REASON:
                    totals[DUPLICATE_DEAD_LETTERS] += sample.value
        return totals

    async def stage_seconds(self) -> dict[str, float]:
        """The worker's time in each stage of its per-event path so far (`metrics.STAGES`)."""
        response = await self._http.get(self._url)
        response.raise_for_status()
        seconds = dict.fromkeys(metrics.STAGES, 0.0)
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == STAGE_SECONDS:
                    seconds[sample.labels["stage"]] += sample.value
        return seconds

    async def wait_for_endpoint(self, deadline_s: float = 60.0) -> None:
        """Wait until the worker serves its metrics (it starts that before joining the group)."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                await self.counters()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def first_consumption(self, poll_s: float = 0.01, deadline_s: float = 120.0) -> float:
        """Wall-clock time (s) at which the worker was first seen to have consumed an event."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            before = time.time()
            if (await self.counters())[CONSUMED] > 0:
                return before  # the counter moved no later than the start of this scrape
            await asyncio.sleep(poll_s)
        raise TimeoutError("the worker consumed nothing in time")

    async def wait_for_ledger(
        self, ledger: Ledger, deadline_s: float, poll_s: float = 1.0
    ) -> dict[str, float]:
        """Poll until the counters match `ledger` exactly; fail on any sign of a lost or extra
        count (dead letters, replays, re-keys, more counted than sent).

        Once a second by default: a scrape costs the worker about 5 ms of CPU (py-spy put 3% of
        the pipeline's samples in serving four a second), which the Faust floor is not charged,
        and the spans measured do not depend on when the wait ends (they end at the worker's own
        last-write stamp).
        """
        deadline = time.monotonic() + deadline_s
        while True:
            c = await self.counters()
            check_no_anomaly(c, ledger)
            if (
                c[CONSUMED] == ledger.consumed
                and c[COUNTED] == ledger.counted
                and c[DUPLICATES] == ledger.duplicates
            ):
                return c
            if time.monotonic() > deadline:
                raise CountMismatch(f"after {deadline_s:.0f}s: counters {c} != {ledger}")
            await asyncio.sleep(poll_s)

    async def wait_for_quiet(self, settle_s: float = 0.3, deadline_s: float = 30.0) -> None:
        """Wait until no batch has finished for `settle_s`: the last one's writes are done."""
        deadline = time.monotonic() + deadline_s
        last = (await self.counters())[BATCHES]
        while time.monotonic() < deadline:
            await asyncio.sleep(settle_s)
            now = (await self.counters())[BATCHES]
            if now == last:
                return
            last = now
        raise TimeoutError("the worker kept finishing batches")

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker has used so far (all its threads)."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def runqueue_wait_seconds(self) -> float | None:
        """Time the worker's threads spent runnable but waiting for a CPU (Linux schedstat).

        On a shared machine this separates "the worker is slow" from "the worker was not
        scheduled": CPU share alone cannot tell waiting on I/O from waiting for a core.
        """
        total_ns = 0
        try:
            for task in Path(f"/proc/{self.process.pid}/task").iterdir():
                try:
                    total_ns += int((task / "schedstat").read_text().split()[1])
                except (FileNotFoundError, ProcessLookupError):  # thread ended meanwhile
                    continue
        except OSError:
            return None
        return total_ns / 1e9

    def rss_bytes(self) -> int:
        """Resident set size of the worker process."""
        return int(self.process.memory_info().rss)

    async def settled_rss_bytes(
        self, every_s: float = 0.5, within: float = 0.01, deadline_s: float = 20.0
    ) -> int:
        """The worker's RSS once it holds still: the last of four readings `every_s` apart that
        lie within `within` of each other (after `deadline_s`, the median of the last four).

        Read as soon as the worker goes quiet, RSS still holds what its last batches freed and
        the allocator has not returned yet (jemalloc returns it after `dirty_decay_ms`, 1 s
        here: streams/allocator.py): one run read 910 MB at quiet and 323 MB a second later,
        then 323 MB for ten seconds. That is not memory the worker keeps per user.
        """
        deadline = time.monotonic() + deadline_s
        readings = [self.rss_bytes()]
        while time.monotonic() < deadline:
            await asyncio.sleep(every_s)
            readings = [*readings[-3:], self.rss_bytes()]
            if len(readings) == 4 and max(readings) <= min(readings) * (1 + within):
                return readings[-1]
        return int(statistics.median(readings))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def check_no_anomaly(counters: Mapping[str, float], ledger: Ledger) -> None:
    """Raise CountMismatch if the worker refused, replayed, re-keyed or over-counted anything.

    A dropped repeat may also be forwarded as a dead letter (reason "duplicate event_id"); any
    other dead letter means a sent event was refused.
    """
    problems = [
        f"{name}={counters[name]:.0f}" for name in (REPLAYS, REKEYED) if counters[name] != 0
    ]
    refused = counters[DEAD_LETTERS] - counters[DUPLICATE_DEAD_LETTERS]
    if refused:
        problems.append(f"{refused:.0f} dead letters other than duplicates")
    if counters[DUPLICATE_DEAD_LETTERS] > ledger.duplicates:
        problems.append(f"{counters[DUPLICATE_DEAD_LETTERS]:.0f} duplicate dead letters")
    if counters[COUNTED] > ledger.counted:
        problems.append(f"counted {counters[COUNTED]:.0f} > {ledger.counted} sent")
    if counters[DUPLICATES] > ledger.duplicates:
        problems.append(f"duplicates {counters[DUPLICATES]:.0f} > {ledger.duplicates} sent")
    if counters[CONSUMED] > ledger.consumed:
        problems.append(f"consumed {counters[CONSUMED]:.0f} > {ledger.consumed} sent")
    if problems:
        raise CountMismatch("worker counters: " + ", ".join(problems))


def tree_bytes(path: Path) -> int:
    """Bytes of all files under `path` (the worker's RocksDB table store, WAL included)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # RocksDB compaction removed it meanwhile
                continue
    return total
