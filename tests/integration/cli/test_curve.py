"""`clout curve show|fit` as an operator runs them: a child process on the real Redis."""

from __future__ import annotations

import random

import orjson
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.curve import DEFAULT_CURVE
from tests.support.cards import fill_leaderboard
from tests.support.cli import clout

pytestmark = pytest.mark.integration


async def test_show_fit_and_fit_now(store_redis: Redis, isolated_settings: Settings) -> None:
    code, out, _ = await clout(isolated_settings, "curve", "show")
    assert code == 0
    assert "curve v0: the default curve" in out
    assert "90.0" in out
    assert f"{DEFAULT_CURVE.raw_for_score(90.0):.4g}" in out

    code, _, err = await clout(isolated_settings, "curve", "fit")
    assert code == 1
    assert "fewer than 1,000 active users" in err

    rng = random.Random(5)
    raws = {f"u{i}": rng.lognormvariate(1.0, 1.2) for i in range(3000)}
    await fill_leaderboard(store_redis, isolated_settings.redis_key_prefix, raws)
    code, out, _ = await clout(isolated_settings, "curve", "fit")
    assert code == 0
    assert "refit v0 -> v1 (in full)" in out
    assert "fitted" in out
    assert "3,000 active users" in out

    code, out, _ = await clout(isolated_settings, "curve", "fit", "--json")
    assert code == 0
    assert orjson.loads(out) | {"took_ms": 0} == orjson.loads(out) | {
        "version": 2,
        "previous_version": 1,
        "full": False,
        "population": 3000,
        "took_ms": 0,
    }
    code, out, _ = await clout(isolated_settings, "curve", "fit", "--now", "--json")
    assert orjson.loads(out)["full"] is True

    code, out, _ = await clout(isolated_settings, "curve", "show", "--json")
    shown = orjson.loads(out)
    assert shown["version"] == 3
    assert shown["last_refit"]["version"] == 3
    assert [row[0] for row in shown["table"]][:4] == [10.0, 20.0, 30.0, 40.0]
