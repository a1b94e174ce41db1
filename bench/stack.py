"""Isolation and clean-up on the shared stack: topics, consumer group and Redis prefix per run."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from app.kafka_config import aiokafka_kwargs
from app.settings import Settings
from app.store.connection import redis_from_settings


async def delete_run_topics(settings: Settings) -> list[str]:
    """Delete every topic of this run (its own, the changelog, Faust's assignor topic)."""
    tag = settings.topic_likes.split(".")[0]
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith((tag + ".", settings.app_id))]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def delete_run_keys(settings: Settings, batch: int = 5000) -> int:
    """Unlink every Redis key under the run's prefix (never FLUSHDB: the server is shared)."""
    redis = redis_from_settings(settings)
    deleted = 0
    try:
        pending: list[str] = []
        async for key in redis.scan_iter(match=f"{settings.redis_key_prefix}:*", count=batch):
            pending.append(key)
            if len(pending) >= batch:
                deleted += await redis.unlink(*pending)
                pending.clear()
        if pending:
            deleted += await redis.unlink(*pending)
    finally:
        await redis.aclose()
    return deleted
