"""The worker's Redis writer: score cards in, monotonic and pipelined, on one server or a cluster.

A Lua script applies a chunk of cards whose keys share one hash slot (on a single server: any
cards) atomically: for each card it compares the card's fencing token (the writer's consumer
group generation, docs/guarantees.md) and then its `updated_at_ms` with the stored ones, and
skips the card if the stored one has a higher token, or the same token and a newer update: a
paused worker's late card cannot replace its successor's, and a replayed or reordered batch
can never move a score back in time. It returns which cards it applied; only those then reach
the leaderboard (app/store/leaderboard.py, whose shards live in other slots). A `write()` is
two pipelined round trips: every script call, then the leaderboard and stats updates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import cast

import orjson

from app.scoring.card import ScoreCard
from app.store.connection import RedisClient, ScriptCall, run_script, slot_of
from app.store.keys import HISTORY_DAYS, HISTORY_TTL_S, RedisKeys, history_window, utc_day
from app.store.leaderboard import Leaderboard

# Cards per script call. Each call blocks Redis while it runs, so chunks stay small enough to
# keep other clients' latency low: SLOWLOG showed ~11 ms for a 1,000-card call on the dev machine,
# so a 250-card call holds Redis for roughly 3 ms. Larger chunks were not faster (docs/redis.md).
DEFAULT_CHUNK_SIZE = 250

# KEYS: per card i (1-based): [2i-1] user hash, [2i] history (all in one slot on a cluster).
# ARGV: [1] changes channel, [2] history TTL s, [3] cards as a JSON array of
# [user_id, score, raw, style, engagers, updated_at, model_version, day, first_kept_day,
#  curve_version, fence],
# then per card i: [2+2i] components JSON, [3+2i] top_actors JSON (stored verbatim).
# A card is applied unless the stored fence is higher, or equal with a strictly newer
# updated_at; an equal timestamp overwrites (the same card twice rewrites identical values and
# publishes nothing). A card stored without a fence has fence 0.
# Returns the 1-based positions of the applied cards.
_WRITE_CARDS_LUA = """
local channel, ttl = ARGV[1], ARGV[2]
local cards = cjson.decode(ARGV[3])
local applied = {}
for i, c in ipairs(cards) do
  local user_key, history_key = KEYS[2 * i - 1], KEYS[2 * i]
  local user_id, score, raw, updated_at = c[1], c[2], c[3], c[6]
  local stored = redis.call('HMGET', user_key, 'updated_at', 'score', 'fence')
  local fence, stored_fence = tonumber(c[11]), tonumber(stored[3] or '0')
  if (not stored[1]) or fence > stored_fence
      or (fence == stored_fence and tonumber(stored[1]) <= tonumber(updated_at)) then
    redis.call('HSET', user_key, 'score', score, 'raw', raw, 'style', c[4],
      'engagers', c[5], 'updated_at', updated_at, 'model_version', c[7], 'curve_version', c[10],
      'fence', c[11], 'components', ARGV[2 + 2 * i], 'top_actors', ARGV[3 + 2 * i])
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
    applied[#applied + 1] = i
  end
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
    """Applies score cards to Redis under `prefix` (see docs/redis.md for the key schema).

    `leaderboard_shards` must match the readers' (`Settings.leaderboard_shards`); None takes
    the same default (1 on a single server, 16 on a cluster).
    """

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        leaderboard_shards: int | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._chunk_size = chunk_size
        self._script = redis.register_script(_WRITE_CARDS_LUA)
        self.leaderboard = Leaderboard(redis, prefix, leaderboard_shards)
        # One write() at a time per writer: the cards a script applied reach the leaderboard in
        # the next round trip, and a second write() in between (the decay sweep beside the
        # agent) could otherwise put an older raw into the ranking after a newer one.
        self._lock = asyncio.Lock()

    @property
    def keys(self) -> RedisKeys:
        """The key names this writer uses."""
        return self._keys

    async def write(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int] | None = None
    ) -> int:
        """Apply `cards` (any order, duplicates allowed); return how many were not stale.

        `fences` gives a user's card its fencing token (default 0). A card is stale, and
        skipped, when the stored card has a higher token, or the same token and a strictly
        newer `updated_at`. Raises ValueError for a card with a non-finite score or raw before
        anything is sent.
        """
        if not cards:
            return 0
        fences = fences or {}
        calls = [self._encode_chunk(chunk, fences) for chunk in self._chunks(cards)]
        async with self._lock:
            # Replaying a chunk after NOSCRIPT is safe: applying a card is idempotent.
            results = await run_script(self._redis, self._script, [call for _, call in calls])
            raws: dict[str, float] = {}
            applied = 0
            for (chunk, _), result in zip(calls, results, strict=True):
                for position in cast(list[int], result):
                    card = chunk[position - 1]
                    # Calls run in card order per slot, so a later applied card is newer.
                    raws[card.user_id] = float(card.raw)
                    applied += 1
            if applied:
                pipe = self._redis.pipeline(transaction=False)
                self.leaderboard.queue_set(pipe, raws)
                pipe.hset(self._keys.stats, "last_write_ms", str(time.time_ns() // 1_000_000))
                pipe.hincrby(self._keys.stats, "cards_applied", applied)
                await pipe.execute()
        return applied

    def _chunks(self, cards: Sequence[ScoreCard]) -> list[Sequence[ScoreCard]]:
        """Cards grouped by the hash slot of their keys (one group on a single server), in
        order within a group, cut into chunks of at most `chunk_size`."""
        groups: dict[int, list[ScoreCard]] = defaultdict(list)
        for card in cards:
            groups[slot_of(self._redis, self._keys.user(card.user_id))].append(card)
        size = self._chunk_size
        return [
            group[i : i + size] for group in groups.values() for i in range(0, len(group), size)
        ]

    def _encode_chunk(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int]
    ) -> tuple[Sequence[ScoreCard], ScriptCall]:
        keys = self._keys
        key_names: list[str] = []
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
                    str(fences.get(card.user_id, 0)),
                ]
            )
            blobs.append(orjson.dumps(card.components))
            blobs.append(orjson.dumps([[a.actor_id, a.contribution] for a in card.top_actors]))
        args: list[str | bytes] = [keys.changes, str(HISTORY_TTL_S), orjson.dumps(rows)]
        args.extend(blobs)
        return cards, (key_names, args)
