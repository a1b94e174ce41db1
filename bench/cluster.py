"""Bench phase "redis cluster": the same lookups and writes on a Redis Cluster beside one server.

A private three-master cluster (one replica each) and a private single redis-server (so that
Redis's own counters see only this phase's commands, not other users of the stack's server) are
started on free loopback ports for the phase and stopped after it. Both get the same users, written
by `ScoreWriter` (one server: a one-shard leaderboard; the cluster: 16 shards, the defaults),
then `ScoreClient.get()` is timed on each, interleaved in rounds, at each concurrency. Redis CPU
per lookup and per card comes from INFO cpu deltas (summed over the masters), so lookups/s and
cards/s per Redis core can be derived for the capacity plan (docs/capacity.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from random import Random
from typing import Any

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.devtools.redis_cluster import LocalRedisCluster, LocalRedisServer
from app.scoring.card import ActorContribution, ScoreCard
from app.store import ScoreClient, ScoreWriter, redis_from_settings
from app.store.connection import RedisClient
from app.store.dedupe import EventDeduplicator
from app.store.due import DueIndex
from app.store.health import redis_cpu_us
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard
from bench.phases import timed_lookups
from bench.stack import delete_run_keys
from bench.stats import summarize

WRITE_BATCH = 2000  # cards per write(), as the worker's batches


def cards_for(users: Sequence[str], at_ms: int, seed: int) -> list[ScoreCard]:
    """A plausible card per user (two actors, one network), raws spread like a population's."""
    rng = Random(seed)
    out = []
    for user in users:
        raw = rng.lognormvariate(1.0, 1.5)
        out.append(
            ScoreCard(
                user_id=user,
                score=round(min(100.0, 1.0 + raw * 5.0), 1),
                raw=raw,
                components={"like": {"twitter": raw * 0.7}, "share": {"twitter": raw * 0.3}},
                style="liked",
                engagers=2,
                top_actors=(
                    ActorContribution("a-1", raw * 0.6),
                    ActorContribution("a-2", raw * 0.4),
                ),
                updated_at_ms=at_ms,
                model_version="bench",
                curve_version=0,
            )
        )
    return out


async def write_all(settings: Settings, users: Sequence[str], seed: int) -> dict[str, float]:
    """Write a card for every user in worker-sized batches; cards/s and Redis CPU µs per card."""
    redis = redis_from_settings(settings)
    try:
        writer = ScoreWriter(redis, settings.redis_key_prefix)
        at = time.time_ns() // 1_000_000
        batches = [
            cards_for(users[i : i + WRITE_BATCH], at, seed + i)
            for i in range(0, len(users), WRITE_BATCH)
        ]
        await writer.write(batches[0][:10])  # script loaded, connections open
        usec_before = await redis_cpu_us(redis)
        started = time.perf_counter()
        for batch in batches:
            await writer.write(batch)
        wall = time.perf_counter() - started
        usec = await redis_cpu_us(redis) - usec_before
    finally:
        await redis.aclose()
    return {
        "cards_per_s": round(len(users) / wall),
        "redis_cpu_us_per_card": round(usec / len(users), 2),
    }


async def redis_bytes(settings: Settings, users: Sequence[str]) -> dict[str, float]:
    """Redis memory per item of every structure that grows with users or events, measured with
    MEMORY USAGE on the written keys: a user's score hash and history hash, a leaderboard
    entry and a sweep-schedule entry (whole sorted sets / members), and one event id remembered
    by the deduplicator (its `seen` key); also the Redis CPU of remembering one event id."""
    redis = redis_from_settings(settings)
    keys = RedisKeys(settings.redis_key_prefix)
    board = Leaderboard(redis, settings.redis_key_prefix, settings.leaderboard_shards)
    due = DueIndex(redis, settings.redis_key_prefix)
    dedupe = EventDeduplicator(redis, settings.redis_key_prefix, 86_400)
    at = time.time_ns() // 1_000_000
    try:
        await due.schedule((0, user, at + i) for i, user in enumerate(users))
        event_ids = [f"{seed:016x}" for seed in range(len(users))]
        sightings = [(f"e-{e}", f"clout.likes:3:{i}") for i, e in enumerate(event_ids)]
        usec_before = await redis_cpu_us(redis)
        for i in range(0, len(sightings), 5000):
            await dedupe.first_sightings(sightings[i : i + 5000])
        dedupe_usec = await redis_cpu_us(redis) - usec_before
        sample = users[:: max(1, len(users) // 500)]
        pipe = redis.pipeline(transaction=False)
        for user in sample:
            pipe.memory_usage(keys.user(user))
            pipe.memory_usage(keys.history(user))
        for event_id, _ in sightings[:: max(1, len(sightings) // 500)]:
            pipe.memory_usage(keys.seen(event_id))
        for key in (*board.keys, due.key(0)):
            pipe.memory_usage(key, samples=0)
        sizes = [int(s or 0) for s in await pipe.execute()]
    finally:
        await redis.aclose()
    n = len(sample)
    seen = sizes[2 * n : 3 * n]
    return {
        "user_hash": round(sum(sizes[0 : 2 * n : 2]) / n, 1),
        "history_hash": round(sum(sizes[1 : 2 * n : 2]) / n, 1),
        "leaderboard_entry": round(sum(sizes[3 * n : -1]) / len(users), 1),
        "due_entry": round(sizes[-1] / len(users), 1),
        "seen_event_id": round(sum(seen) / len(seen), 1),
        "redis_cpu_us_per_event_id": round(dedupe_usec / len(sightings), 2),
    }


async def cluster_lookups(
    base: Settings,
    workdir: Path,
    *,
    users: int,
    lookups: int,
    concurrencies: Sequence[int],
    rounds: int,
    seed: int,
) -> dict[str, Any]:
    """`users` users on a private single server and on a private cluster; write rate, get()
    latency at each concurrency and Redis µs per get() on each (see the module docstring)."""
    cluster = LocalRedisCluster.on_free_ports(workdir / "redis-cluster")
    server = LocalRedisServer(workdir / "redis-single")
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(server.start)
    targets = {
        "single": isolated(base.model_copy(update={"redis_url": server.url}), "benchs"),
        "cluster": isolated(base.model_copy(update=cluster.settings()), "benchc"),
    }
    ids = [f"bench-user-{i:07d}" for i in range(users)]
    order = list(ids)
    Random(seed).shuffle(order)
    out: dict[str, Any] = {"users": users, "masters": 3, "replicas_per_master": 1}
    clients: dict[str, ScoreClient] = {}
    raws: dict[str, RedisClient] = {}
    try:
        for name, settings in targets.items():
            out[name] = {
                "leaderboard_shards": settings.leaderboard_shards,
                "write": await write_all(settings, ids, seed),
            }
            clients[name] = ScoreClient.from_settings(settings)
            raws[name] = redis_from_settings(settings)
        out["redis_bytes"] = await redis_bytes(targets["single"], ids)
        for concurrency in concurrencies:
            samples: dict[str, list[float]] = {name: [] for name in targets}
            usec = dict.fromkeys(targets, 0.0)
            for name in targets:  # warm-up, unrecorded
                await timed_lookups(clients[name].get, order, concurrency, min(200, lookups), 0)
            per_round = lookups // rounds
            for r in range(rounds):
                names = list(targets) if r % 2 == 0 else list(reversed(targets))
                for name in names:
                    before = await redis_cpu_us(raws[name])
                    samples[name] += await timed_lookups(
                        clients[name].get, order, concurrency, per_round, r * per_round
                    )
                    usec[name] += await redis_cpu_us(raws[name]) - before
            for name in targets:
                figures = summarize(samples[name], scale=1e6, digits=0)
                figures["redis_cpu_us_per_get"] = round(usec[name] / len(samples[name]), 2)
                out[name][f"get_c{concurrency}"] = figures
    finally:
        for client in clients.values():
            await client.aclose()
        for raw in raws.values():
            await raw.aclose()
        for settings in targets.values():
            await delete_run_keys(settings)
        await asyncio.to_thread(cluster.stop)
        await asyncio.to_thread(server.stop)
    return out


def main() -> None:
    """`python -m bench.cluster [--users N] [--lookups N] [--out FILE]`: this phase alone (for
    the capacity plan's figures); it needs no stack, only redis-server and redis-cli."""
    import argparse
    import json
    import os
    import tempfile
    from datetime import UTC, datetime

    from app.core.settings import get_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cluster.json"))
    args = parser.parse_args()
    began = datetime.now(UTC).isoformat(timespec="seconds")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="clout-bench-cluster-") as workdir:
        results = asyncio.run(
            cluster_lookups(
                get_settings(),
                Path(workdir),
                users=args.users,
                lookups=args.lookups,
                concurrencies=(1, 50),
                rounds=4,
                seed=7,
            )
        )
    results["started_at"] = began
    results["load_average_start_end"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    results["command"] = f"python -m bench.cluster --users {args.users} --lookups {args.lookups}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
