"""Removing every key under a prefix: how tests and the benchmark clean up on a shared server.

SCAN + UNLINK in batches, never FLUSHDB (other runs share the server). On a cluster redis-py
scans every master and splits a multi-key UNLINK by slot.
"""

from __future__ import annotations

from app.store.connection import RedisClient


async def delete_prefix(redis: RedisClient, prefix: str, batch: int = 1000) -> int:
    """Unlink every key under `prefix:`; returns how many were removed."""
    deleted = 0
    pending: list[str] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=batch):
        pending.append(key)
        if len(pending) >= batch:
            deleted += await redis.unlink(*pending)
            pending.clear()
    if pending:
        deleted += await redis.unlink(*pending)
    return deleted
