"""The live curve in real Redis: population by rank, refits, the lock, the step bound at 100k."""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
import time

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import TopicInfluence
from app.scoring.curve import DEFAULT_CURVE, population_of
from app.scoring.model import ModelParams, score_card
from app.scoring.signals import UserSignals
from app.store import ScoreWriter
from app.store.curve import CurveStore, RefitPolicy, TopicRefitPolicy
from app.store.keys import RedisKeys
from tests.support.cards import fill_leaderboard, make_card
from tests.support.scoring import T0, event, fold

POLICY = RefitPolicy(max_step=2.0, min_population=1000, active_floor_raw=0.01, history=3)


async def rank(redis: Redis, prefix: str, raws: dict[str, float]) -> None:
    """Put users on the leaderboard the way the writer does (ZADD raw)."""
    items = list(raws.items())
    for i in range(0, len(items), 10_000):
        await fill_leaderboard(redis, prefix, dict(items[i : i + 10_000]))


def lognormal(n: int, mu: float, sigma: float, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"u{i}": rng.lognormvariate(mu, sigma) for i in range(n)}


async def test_without_a_fit_the_default_curve_applies(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    store = CurveStore(store_redis, isolated_settings.redis_key_prefix)
    assert await store.version() == 0
    assert await store.load() == DEFAULT_CURVE
    assert await store.history() == []
    await rank(store_redis, isolated_settings.redis_key_prefix, lognormal(999, 0, 1, 1))
    assert await store.refit(POLICY) is None  # too few active users: nothing is stored
    assert await store.version() == 0


async def test_population_is_read_by_rank_above_the_floor(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    raws = lognormal(5000, 0.5, 1.3, 2) | {f"idle{i}": 0.005 for i in range(700)}
    await rank(store_redis, prefix, raws)
    population = await CurveStore(store_redis, prefix).population(0.01)
    assert population == population_of(list(raws.values()), 0.01)
    assert population.count == 5000


async def test_refit_at_100k_users_is_fast_and_moves_no_score_beyond_the_step(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    store = CurveStore(store_redis, prefix)
    raws = lognormal(100_000, 0.3, 1.5, 3)
    await rank(store_redis, prefix, raws)

    started = time.perf_counter()
    first = await store.refit(POLICY)
    assert time.perf_counter() - started < 1.0
    assert first is not None
    active = [r for r in raws.values() if r > POLICY.active_floor_raw]
    assert first.full
    assert first.curve.version == 1
    assert first.curve.population == len(active)
    scores = [round(first.curve.score(r), 1) for r in active]
    assert statistics.median(scores) == pytest.approx(40.0, abs=0.3)

    # Everyone's activity doubles; the next scheduled refit is bounded.
    await rank(store_redis, prefix, {u: 2 * r for u, r in raws.items()})
    started = time.perf_counter()
    second = await store.refit(POLICY)
    assert time.perf_counter() - started < 1.0
    assert second is not None
    assert not second.full
    assert second.curve.version == 2
    assert await store.load() == second.curve
    moved = max(
        abs(round(second.curve.score(2 * r), 1) - round(first.curve.score(2 * r), 1))
        for r in raws.values()
    )
    assert round(moved, 1) == POLICY.max_step  # it moved, by the bound at most

    now = await store.refit(POLICY, full=True)
    assert now is not None
    assert now.full
    doubled = [round(now.curve.score(2 * r), 1) for r in raws.values() if 2 * r > 0.01]
    assert statistics.median(doubled) == pytest.approx(40.0, abs=0.3)
    history = await store.history()
    assert [h["version"] for h in history] == [3, 2, 1]
    assert [h["full"] for h in history] == [True, False, True]
    assert all(isinstance(h["took_ms"], float) for h in history)


async def test_one_process_fits_at_a_time_and_young_curves_are_kept(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    store = CurveStore(store_redis, prefix)
    await rank(store_redis, prefix, lognormal(2000, 0, 1, 4))
    held = store_redis.lock(RedisKeys(prefix).curve_lock, timeout=10)
    assert await held.acquire()
    assert await store.refit(POLICY) is None
    await held.release()
    first = await store.refit(POLICY, older_than_ms=3_600_000)
    assert first is not None  # the first fit does not wait
    assert await store.refit(POLICY, older_than_ms=3_600_000) is None  # an hour has not passed
    assert await store.version() == 1
    assert math.isfinite(first.took_ms)


# -- the topics' own curves (#31) ---------------------------------------------------------


async def test_topics_with_enough_users_get_their_own_curve_and_small_ones_the_global(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    writer = ScoreWriter(store_redis, prefix)
    at = int(time.time() * 1000)
    niche = lognormal(300, math.log(0.05), 1.0, seed=3)  # a quiet topic: small topic raws
    cards = [
        dataclasses.replace(
            make_card(user, updated_at_ms=at),
            influential_about=(TopicInfluence("knitting", 1.0, raw, 1.0, "global"),),
        )
        for user, raw in niche.items()
    ]
    cards += [
        dataclasses.replace(
            make_card(f"s{i}", updated_at_ms=at),
            influential_about=(TopicInfluence("tiny", 1.0, 0.05, 1.0, "global"),),
        )
        for i in range(20)
    ]
    await writer.write(cards)
    store = CurveStore(store_redis, prefix, writer.leaderboard.shards)
    policy = TopicRefitPolicy(
        max_step=2.0, min_population=100, max_curves=10, active_floor_raw=0.01
    )
    fitted = await store.refit_topics(policy)
    assert fitted is not None
    assert set(fitted.curves) == {"knitting"}  # tiny has 20 users, below the minimum
    loaded = await store.load_topics()
    assert loaded.version == fitted.version == 1
    assert loaded.curves["knitting"].scores == fitted.curves["knitting"].scores
    # the knitting median is graded 40 on its own curve (far lower on the global one)
    median = statistics.median(r for r in niche.values() if r > 0.01)
    assert loaded.curves["knitting"].score(median) == pytest.approx(40.0, abs=0.5)
    assert DEFAULT_CURVE.score(median) < 30

    # scored through the model: knitting on its curve, tiny on the global one
    state = fold_topics({"knitting": 1, "tiny": 1})
    card = score_card("x", state, T0, ModelParams(), DEFAULT_CURVE, loaded)
    assert {t.topic: t.curve for t in card.influential_about} == {
        "knitting": "topic",
        "tiny": "global",
    }

    # a young fit is kept; when knitting no longer qualifies, its curve is dropped
    assert await store.refit_topics(policy, older_than_ms=3_600_000) is None
    bigger = TopicRefitPolicy(
        max_step=2.0, min_population=1000, max_curves=10, active_floor_raw=0.01
    )
    refitted = await store.refit_topics(bigger)
    assert refitted is not None
    assert refitted.curves == {}
    assert (await store.load_topics()).curves == {}
    assert refitted.version == 2


def fold_topics(counts: dict[str, int]) -> UserSignals:
    """A user engaged about each topic `count` times by trusted actors."""
    events = [
        event(f"{topic}-{i}", topics=(topic,)) for topic, n in counts.items() for i in range(n)
    ]
    return fold(events, ModelParams())
