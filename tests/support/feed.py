"""Reading the score feed back with a plain aiokafka consumer, as any Kafka client would."""

from __future__ import annotations

import orjson

from app.core.settings import Settings
from app.store import redis_from_settings
from app.store.keys import RedisKeys
from tests.support.kafka import records_to_end


async def read_to_end(settings: Settings, topic: str) -> list[dict[str, object]]:
    """Every record value of `topic` (decoded JSON), from the beginning to the current end."""
    return [
        orjson.loads(r.value) for r in await records_to_end(settings, topic) if r.value is not None
    ]


def last_per_user(records: list[dict[str, object]]) -> dict[str, float]:
    """Each user's score in their last record (records of one user are in one partition)."""
    return {str(r["user_id"]): float(r["score"]) for r in records}  # type: ignore[arg-type]


async def redis_scores(settings: Settings) -> dict[str, float]:
    """Every scored user's visible score as Redis has it under the settings' prefix."""
    keys = RedisKeys(settings.redis_key_prefix)
    redis = redis_from_settings(settings)
    try:
        scores: dict[str, float] = {}
        opening = keys.user("")[:-1]  # "{prefix}:user:{", the user id and "}" follow
        async for key in redis.scan_iter(match=keys.user("*"), count=1000):
            value = await redis.hget(key, "score")
            if value is not None:
                scores[str(key)[len(opening) : -1]] = float(value)
        return scores
    finally:
        await redis.aclose()


async def feed_ends_on_cards(settings: Settings) -> bool:
    """Whether every user's last record on the scores topic is the score Redis has."""
    records = await read_to_end(settings, settings.topic_scores)
    scores = await redis_scores(settings)
    return bool(scores) and last_per_user(records) == scores
