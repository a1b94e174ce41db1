"""One benchmark run, start to finish: isolate, send, measure, verify, clean up, write results."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

from app.core.settings import Settings
from app.devtools.isolation import free_port, isolated
from app.devtools.worker_process import WorkerProcess
from app.kafka.publisher import DEFAULT_LINGER_MS, EventPublisher
from app.kafka.topics import ensure_topics
from app.store.connection import redis_from_settings
from bench import auth_cost, phases
from bench.cluster import cluster_lookups
from bench.config import BenchConfig
from bench.events import Expectation, population, publish_all
from bench.probe import COUNTED, DUPLICATES, WorkerProbe
from bench.profile import Profiler, summarize_collapsed
from bench.stack import delete_run_keys, delete_run_topics
from streams.faust_compat import FAUST_FETCH

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PACKAGES = (
    "clout",
    "faust-streaming",
    "aiokafka",
    "redis",
    "hiredis",
    "orjson",
    "rocksdict",
    "fastapi",
    "uvicorn",
    "httpx",
)

TARGETS = {
    "floor_ratio": (">=", 0.8),
    "e2e_p99_ms": ("<=", 250.0),
    "envelope_eps": (">=", 50_000.0),
    "feed_cost": ("<=", 0.15),
    "e2e_envelope_p99_ms": ("<=", 500.0),
    "lookup_ratio": ("<=", 2.0),
    "rss_bytes_per_user": ("<=", 1024.0),
}


def log(message: str) -> None:
    """Progress on stderr (the results are the files)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def run_bench(config: BenchConfig, base: Settings, out_dir: Path) -> dict[str, Any]:
    """Run every measurement against the stack `base` points at; returns (and writes) results."""
    began = time.time()
    settings = isolated(base, "bench", worker_metrics_port=free_port(), sweep_interval_s=3600.0)
    tag = settings.topic_likes.split(".")[0]
    workdir = Path(tempfile.mkdtemp(prefix=f"clout-{tag}-"))
    # "info" is `clout worker`'s default; at "warning" Faust's terminal spinner sets the root
    # logger to DEBUG, which would charge the worker for building every debug record.
    worker = WorkerProcess(settings, workdir, loglevel="info")
    api: phases.ApiProcess | None = None
    profiler: Profiler | None = None
    probe: WorkerProbe | None = None
    expect = Expectation()
    machine = await machine_info(settings)
    try:
        log(f"run {tag}: own topics ({settings.topic_likes}, ...), group and Redis prefix")
        await ensure_topics(settings)
        events = population(config.population_users, config.events, config.seed)
        actors = sorted({str(event["actor_id"]) for _, event in events})
        log(f"producing {len(events):,} population events")
        async with EventPublisher(settings, envelopes=False) as publisher:
            await publish_all(publisher, events, expect)
        del events
        scored = sorted(expect.targets)

        log("1/5 limits: bare aiokafka consumer, + JSON decode, Faust counting agent")
        consume = await phases.consume_limit(settings, expect.sent, config.consume_passes)
        log(f"    consume {consume['eps']:,} events/s")
        decode = await phases.consume_limit(
            settings, expect.sent, config.consume_passes, decode=True
        )
        log(f"    decode {decode['eps']:,} events/s")
        floor_deadline = 120.0 + expect.sent / 1000
        floor = await phases.faust_floor(
            settings, expect.sent, workdir, "floor", deadline_s=floor_deadline
        )
        log(f"    Faust floor, worker settings {floor['eps']:,} events/s")
        default_settings = settings.model_copy(
            update={
                "worker_event_loop": "asyncio",
                "worker_cython_optimizations": False,
                "worker_faust_statistics": True,
                "worker_gc_tuned": False,
                "worker_allocator": "system",
                "worker_inline_delivery": False,
                "worker_fetch_min_bytes": FAUST_FETCH.min_bytes,
                "worker_fetch_max_wait_ms": FAUST_FETCH.max_wait_ms,
            }
        )
        default_floor = await phases.faust_floor(
            default_settings, expect.sent, workdir, "floor-default", deadline_s=floor_deadline
        )
        log(f"    Faust floor, Faust defaults {default_floor['eps']:,} events/s")
        limits = {"decode": decode, "faust_floor": floor, "faust_floor_default": default_floor}

        log("2/5 pipeline: starting the worker on the backlog")
        started_wall = time.time()
        worker.start()
        probe = WorkerProbe(settings.worker_metrics_port, worker.pid)
        await probe.wait_for_endpoint()
        if config.profile:
            profiler = Profiler(worker.pid, out_dir / "profile-pipeline.collapsed")
        pipe = await phases.pipeline(
            settings, probe, expect, started_wall, deadline_s=120.0 + expect.sent / 500
        )
        if profiler is not None:
            profiler.stop()
            (out_dir / "profile-pipeline.txt").write_text(
                f"py-spy of the worker during the pipeline phase ({config.events:,} events, "
                f"{pipe['eps']:,} events/s, worker at {pipe['worker_cpu_share']:.0%} of a core)\n"
                + summarize_collapsed(profiler.output)
            )
            profiler = None
        log(f"    {pipe['eps']:,} events/s over {pipe['seconds']} s, all counted")

        log("2b  the same backlog on a worker with the score feed off, then on again")
        feed_off = await backlog_pipeline(config, base, workdir, "benchoff", feed_enabled=False)
        feed_on_again = await backlog_pipeline(config, base, workdir, "benchon")
        log(
            f"    feed on {pipe['eps']:,}, off {feed_off['eps']:,}, "
            f"on again {feed_on_again['eps']:,} events/s"
        )

        log("2c  topics: the same backlog, topic-tagged as the simulator tags it")
        topics = await backlog_pipeline(config, base, workdir, "benchtop", topics=True)
        log(f"    tagged {topics['eps']:,} events/s (untagged {pipe['eps']:,})")

        log(f"2d  envelopes: {config.envelope_events:,} events in 100-event messages")
        envelopes = await envelope_phases(config, base, workdir)
        log(
            f"    {envelopes['pipeline']['eps']:,} events/s; at "
            f"{config.e2e_envelope_rate:,.0f} events/s p99 "
            f"{envelopes['e2e']['latency_ms']['p99']} ms"
        )

        log(f"3/5 e2e latency: {config.e2e_rate:,.0f} events/s for {config.e2e_seconds:.0f} s")
        e2e = await phases.e2e_latency(
            settings,
            probe,
            expect,
            rate=config.e2e_rate,
            seconds=config.e2e_seconds,
            tracer_every=config.tracer_every,
            users=config.population_users,
            seed=config.seed + 1,
            tag=tag,
        )
        log(f"    p50 {e2e['latency_ms']['p50']} ms, p99 {e2e['latency_ms']['p99']} ms")
        e2e_under: dict[str, Any] | None = None
        if config.e2e_headroom:
            rate = max(100.0, round(pipe["eps"] * config.e2e_headroom, -2))
            log(f"    again below capacity: {rate:,.0f} events/s for {config.e2e_seconds:.0f} s")
            e2e_under = await phases.e2e_latency(
                settings,
                probe,
                expect,
                rate=rate,
                seconds=config.e2e_seconds,
                tracer_every=config.tracer_every,
                users=config.population_users,
                seed=config.seed + 2,
                tag=f"{tag}-b",
            )
            under_ms = e2e_under["latency_ms"]
            log(f"    p50 {under_ms['p50']} ms, p99 {under_ms['p99']} ms")

        log("4/5 lookups: raw HGETALL, ScoreClient.get(), HTTP")
        # without API keys here, as before issue 17; their cost is measured apart (auth_cost)
        keyless = settings.model_copy(update={"api_auth": False, "api_host": "127.0.0.1"})
        api = phases.ApiProcess(keyless, free_port(), workdir)
        await api.start()
        lookup = await phases.lookups(
            settings,
            api,
            scored[:10_000],
            counts={
                "raw_hgetall": config.lookups,
                "client_get": config.lookups,
                "http": config.http_lookups,
            },
            concurrencies=config.concurrencies,
            rounds=config.lookup_rounds,
            seed=config.seed,
        )
        api.stop()
        api = None
        log("4b/5 HTTP lookups with and without an API key, concurrency 1")
        http_auth = await auth_cost.measure(
            settings,
            scored[:10_000],
            workdir / "auth",
            count=config.http_lookups,
        )

        log("4b/5 the same lookups on a private three-master Redis Cluster beside the server")
        lookup_cluster = await cluster_lookups(
            base,
            workdir,
            users=min(10_000, config.population_users),
            lookups=config.lookups // 4,
            concurrencies=config.concurrencies,
            rounds=config.lookup_rounds,
            seed=config.seed,
        )
        low = lookup_cluster["cluster"][f"get_c{min(config.concurrencies)}"]
        log(f"    cluster get() p50 {low['p50']:,.0f} µs, p99 {low['p99']:,.0f} µs")

        log(f"5/5 memory at {', '.join(f'{s:,}' for s in config.memory_stages)} users")
        mem = await phases.memory(
            settings,
            probe,
            expect,
            worker.data_dir,
            stages=config.memory_stages,
            actors=actors,
            seed=config.seed,
            tag=tag,
            topics=config.memory_topics,
        )
        final_counters = await probe.counters()
    finally:
        if profiler is not None:
            profiler.stop()
        if api is not None:
            api.stop()
        if probe is not None:
            await probe.aclose()
        worker.stop()
        log("cleaning up the run's topics and Redis keys")
        await delete_run_topics(settings)
        await delete_run_keys(settings)
        shutil.rmtree(workdir, ignore_errors=True)

    results = assemble(
        config,
        settings,
        machine,
        consume,
        pipe,
        e2e,
        lookup,
        mem,
        e2e_under,
        limits,
        envelopes,
        {"off": feed_off, "on_again": feed_on_again},
        topics,
    )
    results["lookup_cluster"] = lookup_cluster
    results["http_auth"] = http_auth
    results["verified_total"] = {
        "sent": expect.sent,
        "counted": int(final_counters[COUNTED]),
        "duplicates": int(final_counters[DUPLICATES]),
        "expected_counted": expect.counted,
        "expected_duplicates": expect.duplicates,
    }
    results["started_at"] = datetime.fromtimestamp(began, UTC).isoformat(timespec="seconds")
    results["duration_s"] = round(time.time() - began, 1)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


@dataclass(frozen=True, slots=True)
class BacklogRun:
    """A worker of its own started on a backlog produced before it."""

    settings: Settings
    probe: WorkerProbe
    expect: Expectation
    started_wall: float  # when the worker process was started


@asynccontextmanager
async def worker_on_backlog(
    base: Settings,
    workdir: Path,
    tag: str,
    backlog: tuple[int, int, int],
    *,
    envelope_max_events: int = 1,
    topics: bool = False,
    **updates: Any,
) -> AsyncIterator[BacklogRun]:
    """A worker with its own topics, group and Redis prefix (`tag`) and `updates` to its
    settings, started once `backlog` (population users, events, seed; topic-tagged with
    `topics`) is in its topics, in messages of up to `envelope_max_events` events (1:
    single-event messages); its figures and exact ledger stay apart from the other phases'.
    Topics and keys are removed on the way out.
    """
    settings = isolated(
        base, tag, worker_metrics_port=free_port(), sweep_interval_s=3600.0
    ).model_copy(update=updates)
    worker = WorkerProcess(settings, workdir, name=f"worker-{tag}", loglevel="info")
    probe: WorkerProbe | None = None
    expect = Expectation()
    try:
        await ensure_topics(settings)
        events = population(*backlog, topics=topics)
        async with EventPublisher(settings, envelope_max_events=envelope_max_events) as publisher:
            await publish_all(publisher, events, expect)
        del events
        started_wall = time.time()
        worker.start()
        probe = WorkerProbe(settings.worker_metrics_port, worker.pid)
        await probe.wait_for_endpoint()
        yield BacklogRun(settings, probe, expect, started_wall)
    finally:
        if probe is not None:
            await probe.aclose()
        worker.stop()
        await delete_run_topics(settings)
        await delete_run_keys(settings)


async def backlog_pipeline(
    config: BenchConfig,
    base: Settings,
    workdir: Path,
    tag: str,
    *,
    topics: bool = False,
    **updates: Any,
) -> dict[str, Any]:
    """Pipeline throughput on the main phase's backlog (same events; topic-tagged with `topics`)
    on a worker of its own with `updates` to its settings: with the score feed off, the figure
    beside the main pipeline's (feed on) differs only by the feed, its Kafka records and its
    Redis marks; tagged, only by the topics."""
    backlog = (config.population_users, config.events, config.seed)
    async with worker_on_backlog(base, workdir, tag, backlog, topics=topics, **updates) as run:
        return await phases.pipeline(
            run.settings, run.probe, run.expect, run.started_wall, deadline_s=_deadline(run)
        )


async def envelope_phases(config: BenchConfig, base: Settings, workdir: Path) -> dict[str, Any]:
    """Throughput and latency with 100-event envelopes, on a worker of their own."""
    backlog = (config.population_users, config.envelope_events, config.seed + 5)
    async with worker_on_backlog(
        base, workdir, "benchenv", backlog, envelope_max_events=100
    ) as run:
        pipe = await phases.pipeline(
            run.settings, run.probe, run.expect, run.started_wall, deadline_s=_deadline(run)
        )
        e2e = await phases.e2e_latency(
            run.settings,
            run.probe,
            run.expect,
            rate=config.e2e_envelope_rate,
            seconds=config.e2e_envelope_seconds,
            tracer_every=max(config.tracer_every, int(config.e2e_envelope_rate // 500)),
            users=config.population_users,
            seed=config.seed + 6,
            tag=run.settings.topic_likes.split(".")[0],
            envelope_events=100,
            tick_s=0.02,
        )
    return {"pipeline": pipe, "e2e": e2e, "envelope_events": 100}


def _deadline(run: BacklogRun) -> float:
    """How long a backlog may take: two minutes plus 2 ms an event (500 events/s)."""
    return 120.0 + run.expect.sent / 500


def assemble(
    config: BenchConfig,
    settings: Settings,
    machine: dict[str, Any],
    consume: dict[str, Any],
    pipe: dict[str, Any],
    e2e: dict[str, Any],
    lookup: dict[str, Any],
    mem: list[dict[str, Any]],
    e2e_under: dict[str, Any] | None,
    limits: dict[str, Any],
    envelopes: dict[str, Any],
    feed: dict[str, dict[str, Any]],
    topics: dict[str, Any],
) -> dict[str, Any]:
    """The results document: headline keys first, then the details of each measurement.

    `feed` holds the pipeline runs with the score feed off and then on again: the feed-off run
    sits between two feed-on runs (the main one and `on_again`), so a machine getting busier or
    quieter during the three moves the feed's cost less than one pair in sequence did (runs of
    the same code gave 11%, 13% and 24%).
    """
    feed_off = feed["off"]
    feed_on = (pipe, feed["on_again"])
    feed_on_eps = sum(run["eps"] for run in feed_on) / 2
    feed_on_cpu = sum(_cpu_per_event(run) for run in feed_on) / 2
    c_max = f"c{max(config.concurrencies)}"
    at = lookup[c_max]
    last = mem[-1]
    headline: dict[str, Any] = {
        "schema": 1,
        "mode": config.mode,
        "events": config.events,
        "consume_limit_eps": consume["eps"],
        "pipeline_eps": pipe["eps"],
        "throughput_ratio": round(pipe["eps"] / consume["eps"], 3),
        "decode_limit_eps": limits["decode"]["eps"],
        "faust_floor_eps": limits["faust_floor"]["eps"],
        "faust_floor_default_eps": limits["faust_floor_default"]["eps"],
        "floor_ratio": round(pipe["eps"] / limits["faust_floor"]["eps"], 3),
        "stage_us_per_event": pipe["stage_us_per_event"],
        "envelope_stage_us_per_event": envelopes["pipeline"]["stage_us_per_event"],
        "e2e_rate_eps": e2e["rate_eps"],
        "e2e_p50_ms": e2e["latency_ms"]["p50"],
        "e2e_p95_ms": e2e["latency_ms"]["p95"],
        "e2e_p99_ms": e2e["latency_ms"]["p99"],
        "e2e_below_capacity_rate_eps": e2e_under["rate_eps"] if e2e_under else None,
        "e2e_below_capacity_p99_ms": e2e_under["latency_ms"]["p99"] if e2e_under else None,
        "envelope_eps": envelopes["pipeline"]["eps"],
        "pipeline_feed_off_eps": feed_off["eps"],
        "pipeline_feed_on_again_eps": feed["on_again"]["eps"],
        # Share of the feed-off throughput the score feed costs, against the mean of the two
        # feed-on runs around it (negative: within the noise).
        "feed_cost": round(1 - feed_on_eps / feed_off["eps"], 3),
        # The same in worker CPU per event, which other processes on the machine disturb less.
        "feed_cpu_cost": round(feed_on_cpu / _cpu_per_event(feed_off) - 1, 3),
        "pipeline_topics_eps": topics["eps"],
        # Share of the untagged throughput (the two feed-on runs of the same events) that
        # topic-tagged traffic costs, and the same in worker CPU per event.
        "topics_cost": round(1 - topics["eps"] / feed_on_eps, 3),
        "topics_cpu_cost": round(_cpu_per_event(topics) / feed_on_cpu - 1, 3),
        "e2e_envelope_rate_eps": envelopes["e2e"]["rate_eps"],
        "e2e_envelope_p99_ms": envelopes["e2e"]["latency_ms"]["p99"],
        "lookup_concurrency": max(config.concurrencies),
        "lookup_p50_us": at["client_get"]["p50"],
        "lookup_p99_us": at["client_get"]["p99"],
        "raw_hgetall_p50_us": at["raw_hgetall"]["p50"],
        "raw_hgetall_p99_us": at["raw_hgetall"]["p99"],
        "lookup_ratio": at["client_ratio_p99"],
        "http_p99_us": at["http"]["p99"],
        "http_ratio": at["http_ratio_p99"],
        "memory_users": last["users"],
        "memory_topics_per_user": last["topics_per_user"],
        "rss_bytes_per_user": last["rss_bytes_per_user"],
        "rss_marginal_bytes_per_user": last.get("rss_marginal_bytes_per_user"),
        "disk_bytes_per_user": last["disk_bytes_per_user"],
    }
    headline["targets"] = judge(headline, config, settings, pipe, e2e, mem, e2e_under, envelopes)
    return {
        **headline,
        "consume": consume,
        "limits": limits,
        "pipeline": pipe,
        "e2e": e2e,
        "e2e_below_capacity": e2e_under,
        "envelopes": envelopes,
        "feed_off": feed_off,
        "feed_on_again": feed["on_again"],
        "topics": topics,
        "lookup": lookup,
        "memory": mem,
        "config": config.as_dict(),
        "settings": recorded_settings(settings),
        "machine": machine,
        "versions": versions(),
    }


def _cpu_per_event(pipe: dict[str, Any]) -> float:
    """Worker CPU seconds per event of a pipeline phase."""
    return float(pipe["worker_cpu_share"] * pipe["seconds"] / pipe["verified"]["consumed"])


def judge(
    headline: dict[str, Any],
    config: BenchConfig,
    settings: Settings,
    pipe: dict[str, Any],
    e2e: dict[str, Any],
    mem: list[dict[str, Any]],
    e2e_under: dict[str, Any] | None,
    envelopes: dict[str, Any],
) -> dict[str, Any]:
    """Each target: the value, whether it is met, and (if not) what limits it, from the figures."""
    out: dict[str, Any] = {}
    for key, (op, target) in TARGETS.items():
        value = float(headline[key])
        met = value >= target if op == ">=" else value <= target
        out[key] = {"value": value, "target": f"{op} {target:g}", "met": met, "limited_by": None}
    if not out["floor_ratio"]["met"]:
        share = pipe["worker_cpu_share"]
        waited = pipe.get("worker_runqueue_wait_share") or 0.0
        per_batch = config.events / max(pipe["batches"], 1)
        batches = f"{pipe['mean_batch_ms']} ms per batch of ~{per_batch:.0f} events"
        if share + waited >= 0.85:
            why = (
                f"the worker is CPU-bound: one Python process running {share:.0%} of the time"
                + (
                    f" and waiting for a CPU {waited:.0%} (other processes)"
                    if waited >= 0.05
                    else ""
                )
                + f"; {batches}"
            )
        else:
            why = f"the worker used {share:.0%} of a core ({batches})" + _runqueue_note(waited)
        out["floor_ratio"]["limited_by"] = why
    if not out["e2e_p99_ms"]["met"]:
        behind = e2e["backlog_at_end"] > e2e["rate_eps"] / 2 or e2e["tracers_missing"]
        if behind:
            why = (
                f"the worker cannot keep up with {e2e['rate_eps']:,.0f} events/s here "
                f"(it drains ~{pipe['eps']:,} events/s; {e2e['backlog_at_end']:,} events were "
                "still queued when producing stopped), so events wait in the topic"
            )
            why += _runqueue_note(e2e.get("worker_runqueue_wait_share"))
            if e2e_under is not None:
                why += (
                    f"; below capacity, at {e2e_under['rate_eps']:,.0f} events/s, p99 is "
                    f"{e2e_under['latency_ms']['p99']:,.0f} ms"
                )
        else:
            why = (
                f"batching: up to {settings.batch_max_wait_s * 1000:.0f} ms batch window, "
                f"{DEFAULT_LINGER_MS} ms producer linger and one batch's processing "
                f"(worker at {e2e['worker_cpu_share']:.0%} of a core)"
            )
        out["e2e_p99_ms"]["limited_by"] = why
    for key, run in (("envelope_eps", "pipeline"), ("e2e_envelope_p99_ms", "e2e")):
        if not out[key]["met"]:
            figures = envelopes[run]
            out[key]["limited_by"] = (
                f"the envelope worker used {figures['worker_cpu_share']:.0%} of a core"
                + _runqueue_note(figures.get("worker_runqueue_wait_share"))
                + (
                    f"; {figures['backlog_at_end']:,} events queued when producing stopped"
                    if run == "e2e"
                    else f"; {figures['mean_batch_ms']} ms per batch"
                )
            )
    if not out["feed_cost"]["met"]:
        out["feed_cost"]["limited_by"] = (
            f"worker CPU per event {headline['feed_cpu_cost']:+.1%} with the feed (the mean of "
            f"two runs with it, one before and one after the run without)"
            + _runqueue_note(pipe.get("worker_runqueue_wait_share"))
        )
    if not out["lookup_ratio"]["met"]:
        out["lookup_ratio"]["limited_by"] = (
            "get() is a pipeline of HGETALL + ZREVRANK + ZCARD parsed into a UserScore: more "
            "Python per call, and at concurrency 50 every call queues behind the others in one "
            "event loop"
        )
    if not out["rss_bytes_per_user"]["met"]:
        marginal = mem[-1].get("rss_marginal_bytes_per_user")
        out["rss_bytes_per_user"]["limited_by"] = (
            f"each added user costs {marginal} B of worker RSS"
            if marginal is not None
            else "the worker's fixed footprint over too few users"
        )
    if config.mode != "full":
        for item in out.values():
            item["note"] = "quick run: sizes are too small for the targets to apply"
    return out


def _runqueue_note(share: float | None) -> str:
    """How long the worker was runnable but not running: the machine's share in the result."""
    if share is None or share < 0.05:
        return ""
    return f"; it also waited {share:.0%} of the time for a CPU (other processes on the machine)"


def recorded_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape the figures (no addresses or secrets)."""
    return {
        "topic_partitions": settings.topic_partitions,
        "batch_max_events": settings.batch_max_events,
        "batch_max_wait_s": settings.batch_max_wait_s,
        "table_store": settings.table_store,
        "sweep_interval_s": settings.sweep_interval_s,
        "dedupe_window_hours": settings.scoring.dedupe_window_hours,
        "producer_linger_ms": DEFAULT_LINGER_MS,
        "worker_event_loop": settings.worker_event_loop,
        "worker_cython_optimizations": settings.worker_cython_optimizations,
        "worker_faust_statistics": settings.worker_faust_statistics,
        "worker_gc_tuned": settings.worker_gc_tuned,
        "worker_inline_delivery": settings.worker_inline_delivery,
        "worker_fetch_min_bytes": settings.worker_fetch_min_bytes,
        "worker_fetch_max_wait_ms": settings.worker_fetch_max_wait_ms,
        "workers": 1,
    }


async def machine_info(settings: Settings) -> dict[str, Any]:
    """What the run ran on; the load average says how shared the machine was."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # noqa: ASYNC240 (tiny)
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "kafka": kafka_version(),
        "redis": await redis_version(settings),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "-uno", "--", "app", "streams", "bench")),
    }


def versions() -> dict[str, str]:
    """Installed versions of the packages on the measured path."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def kafka_version() -> str:
    """The broker release, from the local stack's jars (or KAFKA_HOME); 'unknown' otherwise."""
    dirs = [ROOT / ".stack" / "kafka-libs"]
    if os.environ.get("KAFKA_HOME"):
        dirs.insert(0, Path(os.environ["KAFKA_HOME"]) / "libs")
    for folder in dirs:
        for jar in sorted(folder.glob("kafka-server-*.jar")) + sorted(folder.glob("kafka_*.jar")):
            return jar.stem.rsplit("-", 1)[-1]
    return "unknown"


async def redis_version(settings: Settings) -> str:
    """redis-server's version, from INFO."""
    redis = redis_from_settings(settings)
    try:
        info = await redis.info("server")
        return str(info.get("redis_version", "unknown"))
    finally:
        await redis.aclose()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write atomically (a temp file renamed), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)
