"""`/v1/curve` on the real stack: the default curve, then a fitted one."""

from __future__ import annotations

import random

import httpx
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.curve import DEFAULT_CURVE
from app.store.curve import CurveStore, RefitPolicy
from tests.support.cards import fill_leaderboard

pytestmark = pytest.mark.integration


async def test_curve_is_the_default_until_a_fit(
    api: httpx.AsyncClient, store_redis: Redis, isolated_settings: Settings
) -> None:
    response = await api.get("/v1/curve")
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["population"], body["last_refit"]) == (0, 0, None)
    rows = {row["score"]: row["raw"] for row in body["table"]}
    assert rows[40.0] == pytest.approx(DEFAULT_CURVE.raw_for_score(40.0))

    rng = random.Random(9)
    raws = {f"u{i}": rng.lognormvariate(0.0, 1.0) for i in range(2000)}
    await fill_leaderboard(store_redis, isolated_settings.redis_key_prefix, raws)
    policy = RefitPolicy.of(isolated_settings)
    refit = await CurveStore(store_redis, isolated_settings.redis_key_prefix).refit(policy)
    assert refit is not None
    body = (await api.get("/v1/curve")).json()
    assert (body["version"], body["population"]) == (1, 2000)
    assert body["last_refit"]["full"] is True
    rows = {row["score"]: row["raw"] for row in body["table"]}
    assert rows[40.0] == pytest.approx(body["raw_median"], rel=0.01)
