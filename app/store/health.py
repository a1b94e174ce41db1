"""Redis as the ops dashboard sees it: reachable, memory used, how fresh the newest score is, the
score curve's last refit, and the live topics with their keys' memory (#31).

The score writer stamps `last_write_ms` into the `{prefix}:stats` hash on every flush, so the age
of that stamp tells operators whether scores are still landing, independently of Kafka lag (a
worker can keep up with its topics and still fail to write).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import RedisCluster
from redis.exceptions import RedisError

from app.core.settings import resolve_leaderboard_shards
from app.store.connection import RedisClient
from app.store.keys import RedisKeys

TOPIC_MEMORY_SAMPLE = 20
"""Topics whose board shards one probe measures (the most recently listed); with more live topics
the boards' memory is extrapolated from theirs, so a probe's cost does not grow with topics."""


@dataclass(frozen=True, slots=True)
class RedisHealth:
    """One probe's result; `error` says why Redis was not reachable."""

    reachable: bool
    used_memory_bytes: int | None
    last_write_ms: int | None
    last_write_age_s: float | None
    error: str | None = None
    last_refit: dict[str, Any] | None = None  # newest curve history entry (app/store/curve.py)
    live_topics: int | None = None  # members of {topics}
    topic_memory_bytes: int | None = None  # {topics}, topic curves and every topic board shard
    topic_memory_estimated: bool = False  # boards of more than TOPIC_MEMORY_SAMPLE topics


async def probe_redis(
    redis: RedisClient,
    prefix: str,
    now_ms: int | None = None,
    *,
    leaderboard_shards: int | None = None,
) -> RedisHealth:
    """Ping, read INFO memory, the writer's stamp and the live topics (one round trip on a single
    server; on a cluster the memory is summed over the masters), then the memory of the sampled
    topics' board shards (`leaderboard_shards` as the writer's); never raises RedisError.

    A missing stamp (no score written yet under this prefix) gives ``last_write_ms=None``.
    """
    keys = RedisKeys(prefix)
    used: int | None
    cluster = isinstance(redis, RedisCluster)
    try:
        pipe = redis.pipeline(transaction=False)
        if not cluster:
            pipe.ping()
            pipe.info("memory")
        pipe.hget(keys.stats, "last_write_ms")
        pipe.lindex(keys.curve_history, 0)
        pipe.zcard(keys.topics)
        pipe.zrevrange(keys.topics, 0, TOPIC_MEMORY_SAMPLE - 1)
        pipe.memory_usage(keys.topics)
        pipe.memory_usage(keys.topic_curves)
        replies = await pipe.execute()
        stamp, refit, live, sampled, *topic_keys = replies[-6:]
        if isinstance(redis, RedisCluster):
            # Node commands cannot be pipelined on a cluster: memory is the masters' sum.
            per_node = await redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
            used = sum(_int_or_none(info.get("used_memory")) or 0 for info in per_node.values())
        else:
            memory = replies[1]
            used = _int_or_none(memory.get("used_memory")) if isinstance(memory, dict) else None
        shards = resolve_leaderboard_shards(leaderboard_shards, cluster=cluster)
        boards = await _boards_memory(redis, keys, [_text(t) for t in sampled], shards)
    except (RedisError, OSError) as exc:
        return RedisHealth(False, None, None, None, f"{type(exc).__name__}: {exc}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    last_write_ms = _int_or_none(stamp)
    age = None if last_write_ms is None else max(0.0, (now - last_write_ms) / 1000.0)
    live_topics = int(live)
    if sampled and live_topics > len(sampled):
        boards = boards * live_topics // len(sampled)
    return RedisHealth(
        True,
        used,
        last_write_ms,
        age,
        last_refit=_refit_or_none(refit),
        live_topics=live_topics,
        topic_memory_bytes=boards + sum(_int_or_none(n) or 0 for n in topic_keys),
        topic_memory_estimated=live_topics > len(sampled),
    )


async def _boards_memory(
    redis: RedisClient, keys: RedisKeys, topics: list[str], shards: int
) -> int:
    """MEMORY USAGE summed over every shard of the topics' boards (one round trip)."""
    if not topics:
        return 0
    pipe = redis.pipeline(transaction=False)
    for topic in topics:
        for shard in range(shards):
            pipe.memory_usage(keys.topic_leaderboard(topic, shard, shards))
    return sum(_int_or_none(n) or 0 for n in await pipe.execute())


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _refit_or_none(value: Any) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _int_or_none(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return None


async def redis_cpu_us(redis: RedisClient) -> float:
    """CPU time (user + system, µs) the Redis server(s) used so far: INFO cpu, masters summed.

    CPU rather than INFO commandstats: it includes reading requests and writing replies, and
    commandstats counts a script's inner commands twice (in the script and on their own).
    """
    if isinstance(redis, RedisCluster):
        per_node = await redis.info("cpu", target_nodes=RedisCluster.PRIMARIES)
        sections: list[dict[str, Any]] = list(per_node.values())
    else:
        sections = [await redis.info("cpu")]
    seconds = sum(float(s["used_cpu_user"]) + float(s["used_cpu_sys"]) for s in sections)
    return seconds * 1e6
