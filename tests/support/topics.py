"""Topic influence written straight into Redis in the shape of docs/redis.md "Topics (#31)",
for read-side tests that do not run the worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import orjson

from app.scoring.card import TopicInfluence
from app.store.connection import RedisClient
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard


async def write_topics(
    redis: RedisClient,
    prefix: str,
    about: Mapping[str, Sequence[TopicInfluence]],
    now_ms: int,
    shards: int | None = None,
) -> None:
    """Give each user (whose score hash exists) its `influential_about`, rank it on each of its
    topics' boards by topic raw, and mark those topics live at `now_ms`."""
    keys = RedisKeys(prefix)
    pipe = redis.pipeline(transaction=False)
    by_topic: dict[str, dict[str, float]] = {}
    for user_id, entries in about.items():
        ordered = sorted(entries, key=lambda t: -t.share)
        pipe.hset(
            keys.user(user_id),
            "influential_about",
            orjson.dumps([dataclasses.asdict(t) for t in ordered]),
        )
        for t in ordered:
            by_topic.setdefault(t.topic, {})[user_id] = t.raw
    await pipe.execute()
    pipe = redis.pipeline(transaction=False)
    for topic, raws in by_topic.items():
        Leaderboard(redis, prefix, shards, topic=topic).queue_set(pipe, raws)
    await pipe.execute()
    if by_topic:
        await redis.zadd(keys.topics, dict.fromkeys(by_topic, now_ms))
