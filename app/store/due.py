"""The decay sweep's schedule: when each user's visible score will next change through decay.

One sorted set per input partition (`{prefix}:due:{partition}`, member user id, score due time in
epoch ms), so a worker sweeps only the partitions it owns and each sweep costs what is due, not
the number of users.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable

from app.store.connection import RedisClient
from app.store.keys import RedisKeys


class DueIndex:
    """Per-partition due times for the decay sweep."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._keys = RedisKeys(prefix)

    def key(self, partition: int) -> str:
        """The sorted set holding partition's schedule."""
        return self._keys.due(partition)

    async def schedule(self, entries: Iterable[tuple[int, str, int | None]]) -> None:
        """Set each (partition, user, due_ms); a due of None takes the user off the schedule."""
        adds: dict[int, dict[str, int]] = defaultdict(dict)
        removes: dict[int, list[str]] = defaultdict(list)
        for partition, user_id, due_ms in entries:
            if due_ms is None:
                removes[partition].append(user_id)
            else:
                adds[partition][user_id] = due_ms
        if not adds and not removes:
            return
        pipe = self._redis.pipeline(transaction=False)
        for partition, mapping in adds.items():
            pipe.zadd(self.key(partition), mapping)
        for partition, users in removes.items():
            pipe.zrem(self.key(partition), *users)
        await pipe.execute()

    async def due(self, partition: int, now_ms: int, limit: int) -> list[str]:
        """Up to `limit` users of `partition` whose visible score is due to change by now."""
        members = await self._redis.zrangebyscore(self.key(partition), "-inf", now_ms, 0, limit)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def scan(self, partition: int, batch: int) -> AsyncIterator[list[str]]:
        """Every user on `partition`'s schedule (every scored user), about `batch` at a time.

        ZSCAN returns each user present for the whole walk at least once even while the walk
        itself reschedules them (a user may come twice; re-scoring twice is harmless).
        """
        cursor = 0
        while True:
            cursor, members = await self._redis.zscan(self.key(partition), cursor, count=batch)
            if members:
                yield [m.decode() if isinstance(m, bytes) else str(m) for m, _ in members]
            if cursor == 0:
                return
