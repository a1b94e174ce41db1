"""The worker's curve follower on the real Redis, with a recording stand-in for the sweep."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.curve import DEFAULT_CURVE
from app.store.curve import CurveStore, RefitPolicy
from streams.curve_follower import CurveFollower
from tests.support.cards import fill_leaderboard

pytestmark = pytest.mark.integration

POLICY = RefitPolicy(max_step=2.0, min_population=1000, active_floor_raw=0.01, history=5)


class RecordingSweep:
    """Records `run_all` calls; fails the first `failures` of them as Redis would."""

    def __init__(self, follower: list[CurveFollower], failures: int = 0) -> None:
        self.calls: list[tuple[list[int], int]] = []
        self.failures = failures
        self.follower = follower

    async def run_all(self, partitions: Iterable[int]) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Redis went away")
        self.calls.append((list(partitions), self.follower[0].current().version))
        return 7


async def test_a_new_curve_is_taken_up_and_everyone_rescored_once(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    store = CurveStore(store_redis, prefix)
    holder: list[CurveFollower] = []
    sweep = RecordingSweep(holder, failures=1)
    follower = CurveFollower(store, sweep.run_all)
    holder.append(follower)
    await follower.start()
    assert follower.current() == DEFAULT_CURVE
    assert await follower.follow([0, 1]) == 0  # nothing new

    rng = random.Random(3)
    raws = {f"u{i}": rng.lognormvariate(0, 1) for i in range(1500)}
    await fill_leaderboard(store_redis, prefix, raws)
    await follower.refit_if_due(POLICY, 3600.0)
    assert await store.version() == 1
    await follower.refit_if_due(POLICY, 3600.0)  # not an hour old: no second refit
    assert await store.version() == 1

    with pytest.raises(ConnectionError):
        await follower.follow([0, 1])
    assert follower.current().version == 1  # scores with the new curve already
    assert await follower.follow([0, 1]) == 7  # the failed re-score is retried
    assert await follower.follow([0, 1]) == 0
    assert sweep.calls == [([0, 1], 1)]

    restarted = CurveFollower(store, sweep.run_all)
    await restarted.start()
    assert restarted.current() == await store.load()
    assert await restarted.follow([2]) == 0
