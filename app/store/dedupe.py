"""Event-id deduplication: a repeated `event_id` counts once within the dedupe window.

Each first sighting stores the Kafka position it was seen at (`SET key position NX GET EX
window`). A later message with the same id at another position is a duplicate (producer retry,
re-send); the same message seen again at the same position is a replay after a crash before its
effect was committed, and must count. A Lua script runs the SETs for a chunk of ids and answers
one verdict per id: one command per chunk instead of one per event, because packing and parsing a
command per event in redis-py cost the worker more than the rest of its Redis traffic together
(docs/guarantees.md). On a cluster a chunk holds the ids of one hash slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from app.store.connection import (
    RedisClient,
    ScriptCall,
    chunks_by_slot,
    register_lua,
    run_script,
)
from app.store.keys import RedisKeys

CHUNK_SIZE = 1000
"""Ids per script call: small enough that one call keeps well under Redis's latency budget."""


class EventDeduplicator:
    """Remembers event ids for `window_s` seconds under `{prefix}:seen:{event_id}`."""

    def __init__(self, redis: RedisClient, prefix: str, window_s: float) -> None:
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._window = str(max(1, int(window_s)))
        self._script = register_lua(redis, __package__, "first_sightings.lua")

    async def first_sightings(self, sightings: Sequence[tuple[str, str]]) -> list[bool]:
        """For each (event_id, position): True if it should count, False if it is a duplicate.

        One pipelined round trip (per node on a cluster). Sightings of one id keep their order,
        so the first of two in one batch is the first sighting.
        """
        if not sightings:
            return []
        seen_keys = [self._keys.seen(event_id) for event_id, _ in sightings]
        chunks = chunks_by_slot(
            self._redis, range(len(sightings)), seen_keys.__getitem__, CHUNK_SIZE
        )
        calls: list[ScriptCall] = [
            (
                [seen_keys[i] for i in chunk],
                [self._window, *(sightings[i][1] for i in chunk)],
            )
            for chunk in chunks
        ]
        # Replaying a call after NOSCRIPT is safe: Redis ran none of it.
        replies = await run_script(self._redis, self._script, calls)
        verdicts = [False] * len(sightings)
        for chunk, reply in zip(chunks, replies, strict=True):
            for i, verdict in zip(chunk, cast(list[Any], reply), strict=True):
                verdicts[i] = verdict == 1
        return verdicts
