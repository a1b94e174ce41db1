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
from redis.asyncio import Redis
from redis.exceptions import RedisError

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


async def probe_redis(redis: Redis, prefix: str, now_ms: int | None = None) -> RedisHealth:
    """Ping, read INFO memory and the writer's stamp in one round trip; never raises RedisError.

    A missing stamp (no score written yet under this prefix) gives ``last_write_ms=None``.
    """
    keys = RedisKeys(prefix)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.ping()
        pipe.info("memory")
        pipe.hget(keys.stats, "last_write_ms")
        pipe.lindex(keys.curve_history, 0)
        _, memory, stamp, refit = await pipe.execute()
    except (RedisError, OSError) as exc:
        return RedisHealth(False, None, None, None, f"{type(exc).__name__}: {exc}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    last_write_ms = _int_or_none(stamp)
    age = None if last_write_ms is None else max(0.0, (now - last_write_ms) / 1000.0)
    used = _int_or_none(memory.get("used_memory")) if isinstance(memory, dict) else None
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
