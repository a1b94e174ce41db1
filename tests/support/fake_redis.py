"""An in-memory stand-in for the few redis-py asyncio calls the due index makes.

Unit tests use it in addition to the integration tests against the real redis-server
(tests/integration/store/test_due.py), which check the same behaviour on the wire.
"""

from __future__ import annotations

from typing import Any


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self._redis = redis
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def zadd(self, *args: Any, **kwargs: Any) -> None:
        self._calls.append(("zadd", args, kwargs))

    def zrem(self, *args: Any, **kwargs: Any) -> None:
        self._calls.append(("zrem", args, kwargs))

    async def execute(self) -> list[Any]:
        self._redis.round_trips += 1
        return [getattr(self._redis, f"_{name}")(*a, **kw) for name, a, kw in self._calls]


class FakeRedis:
    """Sorted sets; every pipeline or command is one round trip."""

    def __init__(self) -> None:
        self.zsets: dict[str, dict[str, float]] = {}
        self.round_trips = 0

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    async def zrangebyscore(
        self, key: str, low: str, high: float, start: int, num: int
    ) -> list[bytes]:
        self.round_trips += 1
        members = sorted(
            ((score, member) for member, score in self.zsets.get(key, {}).items()),
        )
        due = [member.encode() for score, member in members if score <= high]
        return due[start : start + num]

    def _zadd(self, key: str, mapping: dict[str, float]) -> int:
        zset = self.zsets.setdefault(key, {})
        added = len(set(mapping) - set(zset))
        zset.update(mapping)
        return added

    def _zrem(self, key: str, *members: str) -> int:
        zset = self.zsets.get(key, {})
        return sum(zset.pop(m, None) is not None for m in members)
