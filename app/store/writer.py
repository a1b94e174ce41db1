"""The worker's Redis writer: score cards in, monotonic and pipelined.

One Lua script call applies a whole chunk of cards atomically: for each card it compares the
card's `updated_at_ms` with the stored one and skips the card if the stored update is newer, so a
replayed or reordered batch can never move a score back in time. Chunks of one `write()` go in a
single pipeline, so a batch of thousands of cards costs one network round trip.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import cast

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from app.scoring.card import ScoreCard
from app.store.keys import HISTORY_DAYS, HISTORY_TTL_S, RedisKeys, history_window, utc_day

# Cards per script call. Each call blocks Redis while it runs, so chunks stay small enough to
# keep other clients' latency low: SLOWLOG showed ~11 ms for a 1,000-card call on the dev machine,
# so a 250-card call holds Redis for roughly 3 ms. Larger chunks were not faster (docs/redis.md).
DEFAULT_CHUNK_SIZE = 250

# KEYS: [1] leaderboard, [2] stats, then per card i (1-based): [1+2i] user hash, [2+2i] history.
# ARGV: [1] changes channel, [2] now ms, [3] history TTL s, [4] cards as a JSON array of
# [user_id, score, raw, style, engagers, updated_at, model_version, day, first_kept_day,
#  curve_version],
# then per card i: [3+2i] components JSON, [4+2i] top_actors JSON (stored verbatim).
# A card is applied unless the stored updated_at is strictly newer; an equal timestamp
# overwrites (the same card twice rewrites identical values and publishes nothing).
_WRITE_CARDS_LUA = """
local leaderboard, stats = KEYS[1], KEYS[2]
local channel, now_ms, ttl = ARGV[1], ARGV[2], ARGV[3]
local cards = cjson.decode(ARGV[4])
local applied = 0
for i, c in ipairs(cards) do
  local user_key, history_key = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local user_id, score, raw, updated_at = c[1], c[2], c[3], c[6]
  local stored = redis.call('HMGET', user_key, 'updated_at', 'score')
  if (not stored[1]) or tonumber(stored[1]) <= tonumber(updated_at) then
    redis.call('HSET', user_key, 'score', score, 'raw', raw, 'style', c[4],
      'engagers', c[5], 'updated_at', updated_at, 'model_version', c[7], 'curve_version', c[10],
      'components', ARGV[3 + 2 * i], 'top_actors', ARGV[4 + 2 * i])
    redis.call('ZADD', leaderboard, raw, user_id)
    if redis.call('HSET', history_key, c[8], score) == 1 then
      for _, day in ipairs(redis.call('HKEYS', history_key)) do
        if day < c[9] then redis.call('HDEL', history_key, day) end
      end
    end
    redis.call('EXPIRE', history_key, ttl)
    if stored[2] ~= score then
      local previous = cjson.null
      if stored[2] then previous = tonumber(stored[2]) end
      redis.call('PUBLISH', channel, cjson.encode({user_id = user_id,
        score = tonumber(score), previous = previous, updated_at = tonumber(updated_at)}))
    end
    applied = applied + 1
  end
end
if applied > 0 then
  redis.call('HSET', stats, 'last_write_ms', now_ms)
  redis.call('HINCRBY', stats, 'cards_applied', applied)
end
return applied
"""


@lru_cache(maxsize=64)
def _days(day_number: int) -> tuple[str, str]:
    """(the day, first kept day) for a UTC day number; cached since a batch spans few days."""
    first, today = history_window(utc_day(day_number * 86_400_000), HISTORY_DAYS)
    return today, first


def format_score(score: float) -> str:
    """The stored form of a visible score: one decimal, so equal strings mean equal scores."""
    return f"{score:.1f}"


class ScoreWriter:
    """Applies score cards to Redis under `prefix` (see docs/redis.md for the key schema)."""

    def __init__(self, redis: Redis, prefix: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._chunk_size = chunk_size
        self._script = redis.register_script(_WRITE_CARDS_LUA)

    @property
    def keys(self) -> RedisKeys:
        """The key names this writer uses."""
        return self._keys

    async def write(self, cards: Sequence[ScoreCard]) -> int:
        """Apply `cards` (any order, duplicates allowed); return how many were not stale.

        A card is stale, and skipped, when the stored score has a strictly newer `updated_at`.
        Raises ValueError for a card with a non-finite score or raw before anything is sent.
        """
        if not cards:
            return 0
        now_ms = str(time.time_ns() // 1_000_000)
        calls = [
            self._encode_chunk(cards[i : i + self._chunk_size], now_ms)
            for i in range(0, len(cards), self._chunk_size)
        ]
        results = await self._run(calls)
        retry = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if retry:
            # Script cache flushed or a fresh server: load once and replay those chunks. Safe to
            # replay because applying a card is idempotent.
            self._script.sha = await self._redis.script_load(_WRITE_CARDS_LUA)
            for i, result in zip(retry, await self._run([calls[i] for i in retry]), strict=True):
                results[i] = result
        applied = 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
            applied += cast(int, result)
        return applied

    async def raws_of(self, user_ids: Sequence[str]) -> list[float | None]:
        """Each user's current raw influence (None when unscored), in one ZMSCORE round trip."""
        if not user_ids:
            return []
        result: list[float | None] = await self._redis.zmscore(
            self._keys.leaderboard, list(user_ids)
        )
        return result

    async def _run(self, calls: list[tuple[list[str], list[str | bytes]]]) -> list[object]:
        """One pipeline of EVALSHA calls; errors come back in place, not raised."""
        pipe = self._redis.pipeline(transaction=False)
        for keys, args in calls:
            pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        results: list[object] = await pipe.execute(raise_on_error=False)
        return results

    def _encode_chunk(
        self, cards: Sequence[ScoreCard], now_ms: str
    ) -> tuple[list[str], list[str | bytes]]:
        keys = self._keys
        key_names = [keys.leaderboard, keys.stats]
        rows: list[list[str | int]] = []
        blobs: list[str | bytes] = []
        for card in cards:
            if not (math.isfinite(card.score) and math.isfinite(card.raw)):
                raise ValueError(f"card for {card.user_id!r} has a non-finite score or raw")
            day, first_kept = _days(card.updated_at_ms // 86_400_000)
            key_names.append(keys.user(card.user_id))
            key_names.append(keys.history(card.user_id))
            rows.append(
                [
                    card.user_id,
                    format_score(card.score),
                    repr(float(card.raw)),
                    card.style,
                    str(card.engagers),
                    str(card.updated_at_ms),
                    card.model_version,
                    day,
                    first_kept,
                    str(card.curve_version),
                ]
            )
            blobs.append(orjson.dumps(card.components))
            blobs.append(orjson.dumps([[a.actor_id, a.contribution] for a in card.top_actors]))
        args: list[str | bytes] = [keys.changes, now_ms, str(HISTORY_TTL_S), orjson.dumps(rows)]
        args.extend(blobs)
        return key_names, args
