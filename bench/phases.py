"""The five measurements. Each returns plain JSON-able figures; the runner sets them side by side.

Clocks: latencies within the benchmark process use `time.perf_counter`; the pipeline's span ends
at the worker's own `last_write_ms` stamp in Redis, so it is compared with `time.time` (one
machine, one wall clock).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import orjson
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition

from app.core.settings import Settings
from app.devtools.processes import stop_child
from app.devtools.worker_process import settings_env, wait_caught_up
from app.kafka.config import aiokafka_kwargs
from app.kafka.publisher import EventPublisher
from app.security.tls import api_client_tls, client_ssl_context
from app.store import ScoreClient
from app.store.connection import redis_from_settings
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard
from bench.events import Expectation, KindEvent, fresh_users, population, publish_all, tracer
from bench.probe import (
    BATCH_SECONDS,
    BATCHES,
    CONSUMED,
    COUNTED,
    DEAD_LETTERS,
    DUPLICATE_DEAD_LETTERS,
    DUPLICATES,
    Ledger,
    WorkerProbe,
    tree_bytes,
)
from bench.stats import summarize
from streams.allocator import loaded_allocator

# ---------------------------------------------------------------------------------------------
# 1. consume limit


async def consume_limit(
    settings: Settings, total: int, passes: int, *, decode: bool = False
) -> dict[str, Any]:
    """Events/s of a bare aiokafka consumer reading the run's input topics from the start.

    The clock runs from the first fetch request (connected, partitions assigned) to the last of
    `total` records in hand. With `decode`, each value is also parsed (orjson) and counted per
    target in a dict: the least work any JSON consumer does (`decode_limit_eps`). The best of
    `passes` is the limit.
    """
    rates: list[float] = []
    for _ in range(passes):
        consumer = AIOKafkaConsumer(
            **aiokafka_kwargs(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = [
                TopicPartition(topic, p)
                for topic in settings.input_topics
                for p in range(settings.topic_partitions)
            ]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            count = 0
            per_target: dict[str, int] = {}
            started = time.perf_counter()
            while count < total:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    count += len(records)
                    if decode:
                        for record in records:
                            target = orjson.loads(record.value)["target_id"]
                            per_target[target] = per_target.get(target, 0) + 1
                if time.perf_counter() - started > 300:
                    raise TimeoutError(f"bare consumer read {count} of {total} events in 300 s")
            elapsed = time.perf_counter() - started
        finally:
            await consumer.stop()
        if count != total:
            raise RuntimeError(f"bare consumer read {count} events, {total} were sent")
        rates.append(total / elapsed)
    return {"eps": round(max(rates)), "passes_eps": [round(r) for r in rates]}


async def faust_floor(
    settings: Settings, total: int, workdir: Path, name: str, deadline_s: float
) -> dict[str, Any]:
    """Events/s of a Faust agent that only counts (bench/floor.py), with `settings`' Faust setup.

    Its own consumer group reads the backlog from the start; the figure is the agent's own span
    from its first batch to the `total`-th message.
    """
    result = workdir / f"{name}.json"
    log_path = workdir / f"{name}.log"
    own = settings.model_copy(update={"data_dir": str(workdir / name)})
    env = {**os.environ, **settings_env(own)}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; polled below)
            [
                *(sys.executable, "-m", "bench.floor", "--total", str(total)),
                *("--result", str(result), "--group", f"{settings.app_id}-{name}"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + deadline_s
        while not result.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"the counting agent exited early; see {log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the counting agent did not count {total} in time")
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.2)  # the file is written in one call; let it land
        figures = orjson.loads(result.read_bytes())
    finally:
        await asyncio.to_thread(stop_child, proc, timeout_s=30)
    if figures["events"] < total:
        raise RuntimeError(f"the counting agent saw {figures['events']} of {total} events")
    return {
        "eps": round(total / figures["seconds"]),
        "seconds": round(figures["seconds"], 3),
        "event_loop": settings.worker_event_loop,
        "cython_optimizations": settings.worker_cython_optimizations,
        "faust_statistics": settings.worker_faust_statistics,
        "gc_tuned": settings.worker_gc_tuned,
        "inline_delivery": settings.worker_inline_delivery,
        "fetch_min_bytes": settings.worker_fetch_min_bytes,
        "fetch_max_wait_ms": settings.worker_fetch_max_wait_ms,
    }


# ---------------------------------------------------------------------------------------------
# 2. pipeline throughput


async def pipeline(
    settings: Settings,
    probe: WorkerProbe,
    expect: Expectation,
    started_wall: float,
    deadline_s: float,
) -> dict[str, Any]:
    """The worker (started at `started_wall`) turning the backlog into scores, once verified.

    Span: first event consumed (first scrape that saw the consumed counter move) to the worker's
    `last_write_ms` stamp of its final score write. Verified three ways before any figure is
    kept: the worker's counters equal what was sent (consumed, counted, duplicates; no dead
    letters, replays or re-keys), the leaderboard holds every target, and the group's committed
    offsets reach the end of every input partition.
    """
    first_wall = await probe.first_consumption()
    cpu_first = probe.cpu_seconds()
    waited_first = probe.runqueue_wait_seconds()
    ledger = Ledger(expect.sent, expect.counted, expect.duplicates)
    counters = await probe.wait_for_ledger(ledger, deadline_s)
    done_wall = time.time()
    cpu_done = probe.cpu_seconds()
    waited_done = probe.runqueue_wait_seconds()
    await probe.wait_for_quiet()
    keys = RedisKeys(settings.redis_key_prefix)
    redis = redis_from_settings(settings)
    try:
        last_write_ms = int(await redis.hget(keys.stats, "last_write_ms") or 0)
        ranked = await Leaderboard(redis, keys.prefix, settings.leaderboard_shards).size()
    finally:
        await redis.aclose()
    if ranked != len(expect.targets):
        raise RuntimeError(f"leaderboard holds {ranked} users, {len(expect.targets)} were scored")
    committed = await wait_caught_up(settings, settings.input_topics, deadline_s=60.0)
    stages = await probe.stage_seconds()  # the commits' flushes too, now that all are done
    span = last_write_ms / 1000 - first_wall
    return {
        "eps": round(expect.sent / span),
        "seconds": round(span, 3),
        "worker_startup_s": round(first_wall - started_wall, 1),
        "worker_cpu_share": round((cpu_done - cpu_first) / max(done_wall - first_wall, 1e-9), 3),
        "worker_runqueue_wait_share": _share(waited_first, waited_done, done_wall - first_wall),
        "batches": int(counters[BATCHES]),
        "mean_batch_ms": round(
            1000 * counters[BATCH_SECONDS] / max(counters[BATCHES], 1),
            1,
        ),
        # Wall time per event in each stage of the worker's per-event path (metrics.STAGES);
        # the rest of 1e6 / eps is Faust's delivery, commits, and time waiting for work.
        "stage_us_per_event": {
            name: round(1e6 * seconds / max(counters[CONSUMED], 1), 2)
            for name, seconds in stages.items()
        },
        "verified": {
            "consumed": int(counters[CONSUMED]),
            "counted": int(counters[COUNTED]),
            "duplicates": int(counters[DUPLICATES]),
            "dead_letters": int(counters[DEAD_LETTERS]),
            "refused": int(counters[DEAD_LETTERS] - counters[DUPLICATE_DEAD_LETTERS]),
            "scored_users": ranked,
            "committed_offsets": committed,
        },
    }


# ---------------------------------------------------------------------------------------------
# 3. end-to-end latency


async def e2e_latency(
    settings: Settings,
    probe: WorkerProbe,
    expect: Expectation,
    *,
    rate: float,
    seconds: float,
    tracer_every: int,
    users: int,
    seed: int,
    tag: str,
    envelope_events: int | None = None,
    tick_s: float = 0.002,
) -> dict[str, Any]:
    """Produce at a fixed rate; time each tracer event from hand-over to its score in Redis.

    Traffic is the synthetic population (live timestamps); every `tracer_every`-th event is
    instead the first event of a brand-new user, whose first score the writer always announces
    on the change channel in the same script that stores it. Latency = receipt of that
    announcement (score visible) - the moment the event was handed to the producer.

    Events due are handed over every `tick_s`; with `envelope_events` they travel in envelopes
    of up to that many events per partition (a producer batching its own traffic), else one per
    message.

    Garbage collection is off while the traffic is sent and timed: full collections scanning
    the prepared events paused this process for 80-260 ms (60,000 events), delaying both sends
    and the receipt of announcements, which read as worker latency.
    """
    total = int(rate * seconds)
    traffic = population(users, total, seed)
    actors = sorted({str(event["actor_id"]) for _, event in traffic[:5000]})
    prefix = f"{tag}-trace-"
    marker = prefix.encode()  # only tracer notifications contain it
    redis = redis_from_settings(settings, decode_responses=False)
    pubsub = redis.pubsub()
    await pubsub.subscribe(RedisKeys(settings.redis_key_prefix).changes)
    seen: dict[str, float] = {}
    sent_at: dict[str, float] = {}

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            data: bytes = message["data"]
            if marker in data:
                received = time.perf_counter()
                seen.setdefault(str(orjson.loads(data)["user_id"]), received)

    listener = asyncio.create_task(listen())
    sends: list[asyncio.Task[Any]] = []
    proc = psutil.Process()
    cpu_self0, cpu_worker0 = _cpu(proc), probe.cpu_seconds()
    waited0 = probe.runqueue_wait_seconds()
    gc.collect()
    gc.disable()  # see the docstring: no collection pauses while timing (enabled in finally)
    try:
        publisher = EventPublisher(
            settings,
            envelopes=envelope_events is not None,
            envelope_max_events=envelope_events or 1,
        )
        async with publisher:
            started = time.perf_counter()
            done = 0
            while done < total:
                now = time.perf_counter()
                due = min(total, int((now - started) * rate) + 1)
                if due > done:
                    ts = time.time_ns() // 1_000_000
                    chunk: list[KindEvent] = []
                    for j in range(done, due):
                        if j % tracer_every == 0:
                            kind, event = tracer(j, actors[j % len(actors)], prefix)
                            sent_at[str(event["target_id"])] = now
                        else:
                            kind, event = traffic[j][0], {**traffic[j][1], "ts": ts}
                        chunk.append((kind, event))
                        expect.add(event)
                    sends.append(asyncio.create_task(publisher.publish_many(chunk)))
                    done = due
                await asyncio.sleep(tick_s)
            produce_s = time.perf_counter() - started
            consumed_at_end = (await probe.counters())[CONSUMED]
            cpu_self1, cpu_worker1 = _cpu(proc), probe.cpu_seconds()
            waited1 = probe.runqueue_wait_seconds()
            results = [r for batch in await asyncio.gather(*sends) for r in batch]
        refused = sum(not r.accepted for r in results)
        if refused:
            raise RuntimeError(f"{refused} e2e events were refused by the producer")
        # a worker slower than `rate` drains its backlog after producing stops
        deadline = time.monotonic() + max(120.0, 3 * seconds)
        while len(seen) < len(sent_at) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await pubsub.aclose()
        await redis.aclose()
        gc.enable()
    ledger = Ledger(expect.sent, expect.counted, expect.duplicates)
    await probe.wait_for_ledger(ledger, deadline_s=300.0)
    latencies = [seen[user] - sent_at[user] for user in sent_at if user in seen]
    if not latencies:
        raise RuntimeError("no tracer score became visible")
    return {
        "rate_eps": rate,
        "seconds": seconds,
        "envelope_events": envelope_events,
        "tick_ms": round(tick_s * 1000, 1),
        "events": total,
        "achieved_eps": round(total / produce_s),
        "tracers": len(sent_at),
        "tracers_missing": len(sent_at) - len(latencies),
        "backlog_at_end": int(expect.sent - consumed_at_end),
        "worker_cpu_share": round((cpu_worker1 - cpu_worker0) / produce_s, 3),
        "worker_runqueue_wait_share": _share(waited0, waited1, produce_s),
        "bench_cpu_share": round((cpu_self1 - cpu_self0) / produce_s, 3),
        "latency_ms": summarize(latencies, scale=1000.0, digits=1),
    }


def _share(before: float | None, after: float | None, wall_s: float) -> float | None:
    """A duration's share of `wall_s` (None where the OS does not report it)."""
    if before is None or after is None:
        return None
    return round((after - before) / max(wall_s, 1e-9), 3)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


# ---------------------------------------------------------------------------------------------
# 4. lookup


class ApiProcess:
    """`clout api` in a child process on a free port, for the HTTP lookup figures; HTTPS when
    the settings give the API a certificate (`CLOUT_API_SSL_*`)."""

    def __init__(self, settings: Settings, port: int, workdir: Path) -> None:
        self.port = port
        https = settings.api_ssl_certfile is not None
        self.base_url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
        self.ssl = client_ssl_context(api_client_tls(settings)) if https else None
        self._env = {**os.environ, **settings_env(settings)}
        self._log_path = workdir / "api.log"
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self, deadline_s: float = 60.0) -> None:
        """Start it and wait until /healthz answers."""
        log = self._log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: ASYNC220 (returns at once; polled below)
            [
                sys.executable,
                "-m",
                "app.cli",
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + deadline_s
        verify = self.ssl or True
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0, verify=verify) as client:
            while True:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the API exited; see {self._log_path}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the API did not answer in time; see {self._log_path}")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM and wait (uvicorn shuts down gracefully)."""
        stop_child(self._proc, timeout_s=20)

    def session(self, limit: int = 100, **kwargs: Any) -> aiohttp.ClientSession:
        """An aiohttp session on this API (trusting its CA), at most `limit` connections."""
        connector = aiohttp.TCPConnector(limit=limit, ssl=self.ssl or True)
        return aiohttp.ClientSession(base_url=self.base_url, connector=connector, **kwargs)


Lookup = Callable[[str], Awaitable[object]]


async def timed_lookups(
    call: Lookup, users: Sequence[str], concurrency: int, count: int, offset: int
) -> list[float]:
    """`count` lookups by `concurrency` concurrent callers; each call's latency in seconds."""
    latencies: list[float] = []
    indices = iter(range(offset, offset + count))  # shared: each caller takes the next one

    async def caller() -> None:
        for index in indices:
            user = users[index % len(users)]
            started = time.perf_counter()
            if await call(user) is None:
                raise RuntimeError(f"lookup of {user!r} found nothing")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies


async def lookups(
    settings: Settings,
    api: ApiProcess,
    users: Sequence[str],
    *,
    counts: dict[str, int],
    concurrencies: Sequence[int],
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """Latency of ScoreClient.get(), GET /v1/scores/{id} and a raw HGETALL of the same keys.

    The three are interleaved in `rounds` (rotating which goes first) so machine drift hits all
    alike; each starts with an unrecorded warm-up.
    """
    order = list(users)
    Random(seed).shuffle(order)
    keys = RedisKeys(settings.redis_key_prefix)
    raw = redis_from_settings(settings)  # the same redis-py client the store uses, bare
    client = ScoreClient.from_settings(settings)
    # aiohttp, not httpx: at concurrency 50 httpx's pool saturates a core of the benchmark
    # process itself, which would measure the client rather than the API.
    http = api.session(limit=max(concurrencies))

    async def raw_get(user: str) -> object:
        fields = await raw.hgetall(keys.user(user))
        return fields or None

    async def http_get(user: str) -> object:
        async with http.get(f"/v1/scores/{quote(user, safe='')}") as response:
            response.raise_for_status()
            return await response.read()

    calls: dict[str, Lookup] = {"raw_hgetall": raw_get, "client_get": client.get, "http": http_get}
    out: dict[str, Any] = {}
    try:
        for concurrency in concurrencies:
            samples: dict[str, list[float]] = {name: [] for name in calls}
            for name, call in calls.items():
                await timed_lookups(call, order, concurrency, min(200, counts[name]), 0)
            for r in range(rounds):
                names = list(calls)
                names = names[r % len(names) :] + names[: r % len(names)]
                for name in names:
                    per_round = counts[name] // rounds
                    samples[name] += await timed_lookups(
                        calls[name], order, concurrency, per_round, r * per_round
                    )
            figures = {
                name: summarize(values, scale=1e6, digits=0) for name, values in samples.items()
            }
            raw99 = figures["raw_hgetall"]["p99"]
            raw50 = figures["raw_hgetall"]["p50"]
            out[f"c{concurrency}"] = {
                **figures,
                "client_ratio_p99": round(figures["client_get"]["p99"] / raw99, 2),
                "client_ratio_p50": round(figures["client_get"]["p50"] / raw50, 2),
                "http_ratio_p99": round(figures["http"]["p99"] / raw99, 2),
                "http_ratio_p50": round(figures["http"]["p50"] / raw50, 2),
            }
    finally:
        await http.close()
        await client.aclose()
        await raw.aclose()
    return out


# ---------------------------------------------------------------------------------------------
# 5. memory


async def memory(
    settings: Settings,
    probe: WorkerProbe,
    expect: Expectation,
    data_dir: Path,
    *,
    stages: Sequence[int],
    actors: Sequence[str],
    seed: int,
    tag: str,
    topics: int = 0,
) -> list[dict[str, Any]]:
    """Worker RSS and table bytes on disk once it tracks each stage's number of users.

    New users are added until the worker's tracked set (every user with a score: the
    leaderboard's size) reaches the stage: one event each, or with `topics` enough events
    (sent in envelopes) that each user's state holds that many topics; figures are read once
    every event is counted, the worker is idle and its RSS has settled
    (`WorkerProbe.settled_rss_bytes`; `rss_at_quiet_bytes` is the reading taken at quiet).
    """
    keys = RedisKeys(settings.redis_key_prefix)
    redis = redis_from_settings(settings)
    leaderboard = Leaderboard(redis, keys.prefix, settings.leaderboard_shards)
    results: list[dict[str, Any]] = []
    next_user = 0
    try:
        async with EventPublisher(settings, envelopes=topics > 0) as publisher:
            for stage in stages:
                tracked = len(expect.targets)
                if stage > tracked:
                    fresh = stage - tracked
                    events = fresh_users(next_user, next_user + fresh, actors, seed, tag, topics)
                    await publish_all(publisher, events, expect)
                    next_user += fresh
                ledger = Ledger(expect.sent, expect.counted, expect.duplicates)
                await probe.wait_for_ledger(ledger, deadline_s=max(300.0, stage / 500))
                await probe.wait_for_quiet()
                ranked = await leaderboard.size()
                if ranked != len(expect.targets):
                    raise RuntimeError(f"{ranked} users scored, {len(expect.targets)} expected")
                at_quiet = probe.rss_bytes()
                rss = await probe.settled_rss_bytes()
                disk = tree_bytes(data_dir)
                results.append(
                    {
                        "users": ranked,
                        "topics_per_user": topics,
                        "rss_bytes": rss,
                        "rss_bytes_per_user": round(rss / ranked, 1),
                        "rss_at_quiet_bytes": at_quiet,
                        "allocator": loaded_allocator(Path(f"/proc/{probe.process.pid}/maps")),
                        "disk_bytes": disk,
                        "disk_bytes_per_user": round(disk / ranked, 1),
                        "redis_bytes_per_user": await _redis_bytes_per_user(
                            redis, keys, sorted(expect.targets)[:: max(1, ranked // 200)]
                        ),
                    }
                )
    finally:
        await redis.aclose()
    for before, after in itertools.pairwise(results):
        added = after["users"] - before["users"]
        after["rss_marginal_bytes_per_user"] = round(
            (after["rss_bytes"] - before["rss_bytes"]) / added, 1
        )
    return results


async def _redis_bytes_per_user(redis: Any, keys: RedisKeys, sample: Sequence[str]) -> float:
    """Mean MEMORY USAGE of a sample of users' score and history hashes (their own keys)."""
    pipe = redis.pipeline(transaction=False)
    for user in sample:
        pipe.memory_usage(keys.user(user))
        pipe.memory_usage(keys.history(user))
    sizes = await pipe.execute()
    return round(sum(s or 0 for s in sizes) / max(len(sample), 1), 1)
