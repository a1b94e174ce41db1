"""The worker's curve follower on the real Redis, with a recording stand-in for the sweep."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Iterable

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import TopicInfluence
from app.scoring.curve import DEFAULT_CURVE
from app.store import RedisKeys, ScoreWriter
from app.store.curve import CurveStore, RefitPolicy, TopicRefitPolicy
from streams.curve_follower import CurveFollower, TopicUpkeep
from tests.support.cards import fill_leaderboard, make_card

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


async def test_topic_curves_are_refitted_followed_and_faded_topics_removed(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    writer = ScoreWriter(store_redis, prefix)
    store = CurveStore(store_redis, prefix, writer.leaderboard.shards)
    holder: list[CurveFollower] = []
    sweep = RecordingSweep(holder)
    follower = CurveFollower(store, sweep.run_all)
    holder.append(follower)
    await follower.start()
    assert follower.topic_curves().curves == {}

    now = int(time.time() * 1000)
    rng = random.Random(5)
    cards = [
        dataclasses.replace(
            make_card(f"u{i}", updated_at_ms=now),
            influential_about=(
                TopicInfluence("chess", 1.0, rng.lognormvariate(-2, 1), 1, "global"),
            ),
        )
        for i in range(250)
    ]
    faded = dataclasses.replace(
        make_card("old", updated_at_ms=now - 30 * 86_400_000),
        influential_about=(TopicInfluence("bygone", 1.0, 1.0, 1, "global"),),
    )
    await writer.write([*cards, faded])
    upkeep = TopicUpkeep(
        TopicRefitPolicy(max_step=2.0, min_population=200, max_curves=5, active_floor_raw=0.01),
        writer.topic_boards,
        retention_ms=7 * 86_400_000,
    )
    await follower.refit_if_due(POLICY, 3600.0, upkeep)
    assert await store_redis.zrange(RedisKeys(prefix).topics, 0, -1) == ["chess"]
    for key in writer.topic_boards.board_keys("bygone"):
        assert not await store_redis.exists(key)

    assert await follower.follow([0]) == 7  # new topic curves: everyone re-scored
    assert set(follower.topic_curves().curves) == {"chess"}
    assert await follower.follow([0]) == 0
    await follower.refit_if_due(POLICY, 3600.0, upkeep)  # young: nothing refitted
    assert await follower.follow([0]) == 0
