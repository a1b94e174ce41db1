"""Isolation and clean-up on the shared stack: topics, consumer group and Redis prefix per run."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.store.cleanup import delete_prefix
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


async def delete_run_keys(settings: Settings) -> int:
    """Unlink every Redis key under the run's prefix (never FLUSHDB: the server is shared)."""
    redis = redis_from_settings(settings)
    try:
        return await delete_prefix(redis, settings.redis_key_prefix, batch=5000)
    finally:
        await redis.aclose()
