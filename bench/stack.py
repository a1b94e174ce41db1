"""Isolation and clean-up on the shared stack: topics, consumer group and Redis prefix per run."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid

import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from app.kafka_config import aiokafka_kwargs
from app.settings import Settings
from app.store.connection import redis_from_settings


def isolated(settings: Settings, **overrides: object) -> Settings:
    """A copy of settings with topics, consumer group and Redis prefix unique to this run."""
    tag = f"bench{uuid.uuid4().hex[:8]}"
    return settings.model_copy(
        update={
            "topic_likes": f"{tag}.likes",
            "topic_shares": f"{tag}.shares",
            "topic_mentions": f"{tag}.mentions",
            "topic_dead_letters": f"{tag}.dead-letters",
            "topic_rekeyed": f"{tag}.rekeyed",
            "app_id": f"clout-{tag}",
            "redis_key_prefix": f"clout-{tag}",
            **overrides,
        }
    )


def run_topics(settings: Settings) -> list[str]:
    """The topics the run declares itself (the worker adds its changelog and assignor topics)."""
    return [*settings.input_topics, settings.topic_rekeyed, settings.topic_dead_letters]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def create_topics(settings: Settings) -> None:
    """Create the run's topics up front, so producing never auto-creates them with 1 partition."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        new = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
            for name in run_topics(settings)
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        deadline = asyncio.get_running_loop().time() + 30
        while set(run_topics(settings)) - set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("the run's topics did not appear within 30 s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


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
    redis: aioredis.Redis = redis_from_settings(settings)
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
