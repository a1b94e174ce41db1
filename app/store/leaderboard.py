"""The leaderboard, split over a fixed number of sorted sets so it can spread over a Redis Cluster.

A user lives in shard ``shard_of(user_id, shards)`` (app/store/keys.py); each shard is a sorted
set (member user id, score raw) with a hash tag of its own. Every reader of ranks goes through
this module, and its answers equal those of one sorted set holding every user:

- rank = 1 + the user's ZREVRANK in its own shard + in every other shard the members with a
  higher raw or an equal raw and a greater id (Redis orders ties by member, so ZREVRANK puts the
  greater id first); one script call per shard counts both and returns the shard's size, so a
  lookup costs the user's own commands plus one call per shard; ties on other shards cost one
  more round trip, only when present;
- ranked = the sum of the shards' sizes, percentile = `keys.percentile(rank, ranked)`;
- a page of the top = a merge of the shards' tops (deep pages first find the raw at the page's
  start by bisection over per-shard counts, so no shard sends more than a page plus ties).

With one shard (the single-server default) every call is the one-sorted-set command it was.
"""

from __future__ import annotations

import heapq
import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.asyncio import RedisCluster

from app.core.settings import resolve_leaderboard_shards
from app.store.connection import AnyPipeline, RedisClient, ScriptCall, register_lua, run_script
from app.store.keys import RedisKeys, shard_of

# Pages whose end lies within this many rows of the top are merged from every shard's top
# directly; deeper pages locate their first raw by bisection instead (see `top`).
DIRECT_MERGE_ROWS = 2000


class Leaderboard:
    """Ranks, sizes and pages of the leaderboard under `prefix`, split over `shards` sets: the
    global one, or with `topic` that topic's (#31; its shards are trimmed to its top N)."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        shards: int | None = None,
        *,
        topic: str | None = None,
    ) -> None:
        """`shards` must match every other reader's and the writer's; None takes the default
        of `Settings.leaderboard_shards` (1 on a single server, 16 on a cluster)."""
        shards = resolve_leaderboard_shards(shards, cluster=isinstance(redis, RedisCluster))
        if shards < 1:
            raise ValueError("the leaderboard needs at least one shard")
        self._redis = redis
        self.shards = shards
        keys = RedisKeys(prefix)
        self.keys: tuple[str, ...] = tuple(
            keys.leaderboard(i, shards)
            if topic is None
            else keys.topic_leaderboard(topic, i, shards)
            for i in range(shards)
        )
        self._count_around = register_lua(redis, __package__, "count_around.lua")

    def shard(self, user_id: str) -> int:
        """The index of the shard holding `user_id`."""
        return shard_of(user_id, self.shards) if self.shards > 1 else 0

    def key_of(self, user_id: str) -> str:
        """The sorted set holding `user_id`."""
        return self.keys[self.shard(user_id)]

    # --- writing ----------------------------------------------------------------------------

    def queue_set(self, pipe: AnyPipeline, raws: Mapping[str, float]) -> None:
        """Queue one ZADD per shard setting each user's raw (the writer's ranking update)."""
        by_shard: dict[int, dict[str, float]] = defaultdict(dict)
        for user_id, raw in raws.items():
            by_shard[self.shard(user_id)][user_id] = raw
        for shard, mapping in by_shard.items():
            pipe.zadd(self.keys[shard], mapping)

    # --- standing of users ------------------------------------------------------------------

    def queue_standing(self, pipe: AnyPipeline, user_ids: Sequence[str]) -> int:
        """Queue the first round trip of `standings`; returns how many replies it adds.

        Callers add these commands to a pipeline of their own (e.g. after HGETALLs), so a
        lookup on a single-shard board stays one round trip, then pass the replies to
        `standings_from`.
        """
        for user_id in user_ids:
            key = self.key_of(user_id)
            pipe.zrevrank(key, user_id)
            if self.shards > 1:
                pipe.zscore(key, user_id)
        if self.shards == 1:
            pipe.zcard(self.keys[0])
            return len(user_ids) + 1
        return 2 * len(user_ids)

    async def standings_from(
        self, user_ids: Sequence[str], replies: Sequence[Any]
    ) -> tuple[list[int | None], int]:
        """(1-based rank or None for each user, users ranked) from `queue_standing`'s replies."""
        ranks: list[int | None] = []
        if self.shards == 1:
            ranks = [None if r is None else int(r) + 1 for r in replies[: len(user_ids)]]
            return ranks, int(replies[-1])
        ranked: list[tuple[int, str, float]] = []  # (position in user_ids, user, raw)
        for i, user_id in enumerate(user_ids):
            own_rank, raw = replies[2 * i], replies[2 * i + 1]
            if own_rank is None or raw is None:
                ranks.append(None)
            else:
                ranks.append(int(own_rank) + 1)
                ranked.append((i, user_id, float(raw)))
        if not ranked:
            return ranks, await self.size()
        above, total = await self._above_elsewhere([(u, r) for _, u, r in ranked])
        for (i, _, _), count in zip(ranked, above, strict=True):
            ranks[i] = (ranks[i] or 0) + count
        return ranks, total

    async def standings(self, user_ids: Sequence[str]) -> tuple[list[int | None], int]:
        """Each user's 1-based rank (None if unranked) and how many users are ranked."""
        pipe = self._redis.pipeline(transaction=False)
        self.queue_standing(pipe, user_ids)
        return await self.standings_from(user_ids, await pipe.execute())

    async def _above_elsewhere(self, users: Sequence[tuple[str, float]]) -> tuple[list[int], int]:
        """For each (user, raw): members of the *other* shards that one sorted set would rank
        above the user (higher raw, or equal raw and greater id); and how many are ranked.

        One script call per (user, other shard), plus the first user's own shard for its size.
        """
        calls: list[ScriptCall] = []
        asked: list[tuple[int, int]] = []  # (user index, shard) of each call
        for i, (user_id, raw) in enumerate(users):
            own = self.shard(user_id)
            for s in range(self.shards):
                if s != own or i == 0:
                    calls.append(([self.keys[s]], [repr(raw)]))
                    asked.append((i, s))
        above = [0] * len(users)
        total = 0
        tied: list[tuple[int, int]] = []  # (user index, shard) with equal raws to order by id
        for (i, s), reply in zip(
            asked, await run_script(self._redis, self._count_around, calls), strict=True
        ):
            higher, equal, size = (int(n) for n in reply)
            if i == 0:
                total += size
            if s == self.shard(users[i][0]):
                continue
            above[i] += higher
            if equal:
                tied.append((i, s))
        if tied:
            pipe = self._redis.pipeline(transaction=False)
            for i, s in tied:
                tie = repr(users[i][1])
                pipe.zrangebyscore(self.keys[s], tie, tie)
            for (i, _), members in zip(tied, await pipe.execute(), strict=True):
                # Python orders str by code point, which is Redis's byte order of UTF-8.
                above[i] += sum(1 for m in members if _text(m) > users[i][0])
        return above, total

    async def size(self) -> int:
        """How many users are ranked."""
        pipe = self._redis.pipeline(transaction=False)
        for key in self.keys:
            pipe.zcard(key)
        return sum(int(n) for n in await pipe.execute())

    async def count_above(self, raws: Sequence[float]) -> list[int]:
        """For each raw, how many ranked users have a strictly higher raw (one round trip)."""
        pipe = self._redis.pipeline(transaction=False)
        for raw in raws:
            for key in self.keys:
                pipe.zcount(key, f"({raw!r}", "+inf")
        replies = [int(n) for n in await pipe.execute()]
        n = self.shards
        return [sum(replies[i * n : (i + 1) * n]) for i in range(len(raws))]

    async def raws(self, user_ids: Sequence[str]) -> list[float | None]:
        """Each user's raw (None when unranked): one ZMSCORE per shard, one round trip."""
        if not user_ids:
            return []
        positions: dict[int, list[int]] = defaultdict(list)
        for i, user_id in enumerate(user_ids):
            positions[self.shard(user_id)].append(i)
        pipe = self._redis.pipeline(transaction=False)
        for shard, indexes in positions.items():
            pipe.zmscore(self.keys[shard], [user_ids[i] for i in indexes])
        result: list[float | None] = [None] * len(user_ids)
        for indexes, scores in zip(positions.values(), await pipe.execute(), strict=True):
            for i, score in zip(indexes, scores, strict=True):
                result[i] = None if score is None else float(score)
        return result

    # --- pages ------------------------------------------------------------------------------

    async def top(self, offset: int, limit: int) -> tuple[list[tuple[str, float]], int]:
        """(user, raw) rows ranked `offset + 1` .. `offset + limit`, and users ranked."""
        if self.shards == 1 or offset + limit <= DIRECT_MERGE_ROWS:
            start = offset if self.shards == 1 else 0
            pipe = self._redis.pipeline(transaction=False)
            for key in self.keys:
                pipe.zrevrange(key, start, offset + limit - 1, withscores=True)
            for key in self.keys:
                pipe.zcard(key)
            replies = await pipe.execute()
            total = sum(int(n) for n in replies[self.shards :])
            rows = merge_shard_pages(replies[: self.shards])
            return rows[offset - start : offset - start + limit], total
        return await self._deep_page(offset, limit)

    async def _deep_page(self, offset: int, limit: int) -> tuple[list[tuple[str, float]], int]:
        """A page far from the top: find the raw `first` of the row at `offset` (the highest
        raw with more than `offset` users at or above it), then read each shard from its first
        row at or below `first`; only rows tied at `first` are read beyond the page itself."""
        total = await self.size()
        if offset >= total:
            return [], total
        low, high = float_ordinal(float("-inf")), float_ordinal(float("inf"))
        # Invariant: count(raw >= value(low)) > offset >= count(raw >= value(high + 1)).
        while low < high:
            middle = (low + high + 1) // 2
            if await self._count_at_or_above(float_from_ordinal(middle)) > offset:
                low = middle
            else:
                high = middle - 1
        first = float_from_ordinal(low)
        pipe = self._redis.pipeline(transaction=False)
        for key in self.keys:
            pipe.zcount(key, f"({first!r}", "+inf")
        starts = [int(n) for n in await pipe.execute()]
        skip = offset - sum(starts)  # rows tied at `first` that precede the page
        pipe = self._redis.pipeline(transaction=False)
        for key, start in zip(self.keys, starts, strict=True):
            pipe.zrevrange(key, start, start + skip + limit - 1, withscores=True)
        rows = merge_shard_pages(await pipe.execute())
        return rows[skip : skip + limit], total

    async def _count_at_or_above(self, raw: float) -> int:
        pipe = self._redis.pipeline(transaction=False)
        for key in self.keys:
            pipe.zcount(key, repr(raw), "+inf")
        return sum(int(n) for n in await pipe.execute())


def merge_shard_pages(pages: Iterable[Sequence[tuple[Any, Any]]]) -> list[tuple[str, float]]:
    """Shards' ZREVRANGE WITHSCORES pages merged into one sorted set's order (raw, then id,
    both descending)."""
    rows = ([(_text(m), float(s)) for m, s in page] for page in pages)
    return list(heapq.merge(*rows, key=lambda row: (row[1], row[0]), reverse=True))


def float_ordinal(value: float) -> int:
    """An integer that orders doubles as their values do (IEEE 754 bits, negatives flipped)."""
    bits = int(struct.unpack(">q", struct.pack(">d", value))[0])
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF) - 1


def float_from_ordinal(ordinal: int) -> float:
    """The double whose `float_ordinal` is `ordinal`."""
    bits = ordinal if ordinal >= 0 else -(ordinal + 1) | -0x8000_0000_0000_0000
    (value,) = struct.unpack(">d", struct.pack(">q", bits))
    return float(value)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
