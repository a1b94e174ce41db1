"""Redis as the ops dashboard sees it: reachable, memory used, how fresh the newest score is, and
the score curve's last refit.

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

from app.store.connection import RedisClient
from app.store.keys import RedisKeys


@dataclass(frozen=True, slots=True)
class RedisHealth:
    """One probe's result; `error` says why Redis was not reachable."""

    reachable: bool
    used_memory_bytes: int | None
    last_write_ms: int | None
    last_write_age_s: float | None
    error: str | None = None
    last_refit: dict[str, Any] | None = None  # newest curve history entry (app/store/curve.py)


async def probe_redis(redis: RedisClient, prefix: str, now_ms: int | None = None) -> RedisHealth:
    """Ping, read INFO memory and the writer's stamp (one round trip on a single server; on a
    cluster the memory is summed over the masters); never raises RedisError.

    A missing stamp (no score written yet under this prefix) gives ``last_write_ms=None``.
    """
    keys = RedisKeys(prefix)
    used: int | None
    try:
        if isinstance(redis, RedisCluster):
            # Node commands cannot be pipelined on a cluster: memory is the masters' sum.
            cpipe = redis.pipeline(transaction=False)
            cpipe.hget(keys.stats, "last_write_ms")
            cpipe.lindex(keys.curve_history, 0)
            stamp, refit = await cpipe.execute()
            per_node = await redis.info("memory", target_nodes=RedisCluster.PRIMARIES)
            used = sum(_int_or_none(info.get("used_memory")) or 0 for info in per_node.values())
        else:
            pipe = redis.pipeline(transaction=False)
            pipe.ping()
            pipe.info("memory")
            pipe.hget(keys.stats, "last_write_ms")
            pipe.lindex(keys.curve_history, 0)
            _, memory, stamp, refit = await pipe.execute()
            used = _int_or_none(memory.get("used_memory")) if isinstance(memory, dict) else None
    except (RedisError, OSError) as exc:
        return RedisHealth(False, None, None, None, f"{type(exc).__name__}: {exc}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    last_write_ms = _int_or_none(stamp)
    age = None if last_write_ms is None else max(0.0, (now - last_write_ms) / 1000.0)
    return RedisHealth(True, used, last_write_ms, age, last_refit=_refit_or_none(refit))


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
