"""The one way Clout processes connect to Redis, so every client is configured alike."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.settings import Settings, reveal

StoreError = RedisError
"""What the store's clients raise when Redis fails (unreachable, timeout, error reply), so
callers outside app/store can handle it without importing redis."""


def redis_from_settings(settings: Settings, **overrides: Any) -> Redis:
    """An asyncio Redis client for `settings.redis_url`, with credentials from Settings.

    ``decode_responses=True``: every value in the key schema is UTF-8 text (numbers as decimal
    strings, JSON documents), and hiredis decodes in C, which is cheaper than decoding bytes
    in Python on each read. Code sharing this client must therefore expect `str`, not `bytes`.
    `overrides` go to `Redis.from_url` last (e.g. a different ``max_connections`` for tests).
    """
    kwargs: dict[str, Any] = {"decode_responses": True}
    if settings.redis_username is not None:
        kwargs["username"] = reveal(settings.redis_username)
    if settings.redis_password is not None:
        kwargs["password"] = reveal(settings.redis_password)
    kwargs.update(overrides)
    return Redis.from_url(settings.redis_url, **kwargs)
