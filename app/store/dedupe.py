"""Event-id deduplication: a repeated `event_id` counts once within the dedupe window.

Each first sighting stores the Kafka position it was seen at (`SET key position NX GET EX window`,
one pipelined round trip per batch). A later message with the same id at another position is a
duplicate (producer retry, re-send); the same message seen again at the same position is a replay
after a crash before its effect was committed, and must count.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.store.connection import RedisClient
from app.store.keys import RedisKeys


class EventDeduplicator:
    """Remembers event ids for `window_s` seconds under `{prefix}:seen:{event_id}`."""

    def __init__(self, redis: RedisClient, prefix: str, window_s: float) -> None:
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._window_s = max(1, int(window_s))

    async def first_sightings(self, sightings: Sequence[tuple[str, str]]) -> list[bool]:
        """For each (event_id, position): True if it should count, False if it is a duplicate."""
        if not sightings:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for event_id, position in sightings:
            pipe.set(self._keys.seen(event_id), position, nx=True, get=True, ex=self._window_s)
        previous = await pipe.execute()
        return [
            seen is None or _text(seen) == position
            for seen, (_, position) in zip(previous, sightings, strict=True)
        ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
