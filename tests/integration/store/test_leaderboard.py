"""The sharded leaderboard against one sorted set holding the same 100,000 users, on the real
single server and on the real cluster: ranks, percentiles, sizes and pages must be equal."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.store import redis_from_settings
from app.store.connection import RedisClient
from app.store.keys import percentile
from app.store.leaderboard import DIRECT_MERGE_ROWS, Leaderboard
from tests.support.redis_variants import REDIS_VARIANTS, stack_on

pytestmark = pytest.mark.integration

USERS = 100_000
SHARDS = 16


def population(seed: int = 15) -> dict[str, float]:
    """100,000 users: spread raws, plus blocks of exact ties (the same raw on many users, in
    every shard, where only the user id orders them) and some unicode ids."""
    rng = random.Random(seed)
    raws: dict[str, float] = {}
    for i in range(USERS):
        user = f"user-{rng.randrange(10**9):09d}-{i}" if i % 97 else f"üser-{i}-✓"
        roll = rng.random()
        if roll < 0.02:
            raws[user] = 0.1  # a large tie at the bottom
        elif roll < 0.03:
            raws[user] = 7.25  # a tie in the middle
        else:
            raws[user] = rng.lognormvariate(0.0, 2.0)
    return raws


async def fill(redis: RedisClient, board: Leaderboard, raws: dict[str, float]) -> None:
    items = list(raws.items())
    for start in range(0, len(items), 10_000):
        pipe = redis.pipeline(transaction=False)
        board.queue_set(pipe, dict(items[start : start + 10_000]))
        await pipe.execute()


@pytest.fixture(scope="module", params=REDIS_VARIANTS)
def filled(request: pytest.FixtureRequest) -> Iterator[tuple[Settings, dict[str, float]]]:
    """One sorted set and 16 shards with the same 100,000 users, once per module and Redis
    variant (filling takes seconds); their keys are deleted afterwards."""
    settings = isolated(stack_on(request))
    raws = population()

    async def run(fill_them: bool) -> None:
        redis = redis_from_settings(settings)
        try:
            for shards in (1, SHARDS):
                board = Leaderboard(redis, settings.redis_key_prefix, shards)
                if fill_them:
                    await fill(redis, board, raws)
                else:
                    await redis.unlink(*board.keys)
        finally:
            await redis.aclose()

    asyncio.run(run(True))
    yield settings, raws
    asyncio.run(run(False))


@pytest.fixture
async def boards(
    filled: tuple[Settings, dict[str, float]],
) -> AsyncIterator[tuple[RedisClient, Leaderboard, Leaderboard, dict[str, float]]]:
    """(client, the one sorted set, the 16 shards, every user's raw)."""
    settings, raws = filled
    redis = redis_from_settings(settings)
    prefix = settings.redis_key_prefix
    yield redis, Leaderboard(redis, prefix, 1), Leaderboard(redis, prefix, SHARDS), raws
    await redis.aclose()


async def test_sharded_ranks_and_percentiles_equal_one_sorted_sets(
    boards: tuple[RedisClient, Leaderboard, Leaderboard, dict[str, float]],
) -> None:
    redis, single, sharded, raws = boards
    assert await sharded.size() == await single.size() == USERS
    # Every shard holds users (the spread is by CRC-32 of the id).
    sizes = [int(await redis.zcard(key)) for key in sharded.keys]
    assert min(sizes) > USERS / SHARDS / 2
    rng = random.Random(3)
    tied = [u for u, r in raws.items() if r in (0.1, 7.25)]
    sample = rng.sample(sorted(raws), 4000) + tied[:: max(1, len(tied) // 1000)] + ["nobody"]
    for start in range(0, len(sample), 1000):
        batch = sample[start : start + 1000]
        expected, expected_total = await single.standings(batch)
        got, total = await sharded.standings(batch)
        assert (got, total) == (expected, expected_total)
        # Independently of the module: one sorted set's ZREVRANK.
        pipe = redis.pipeline(transaction=False)
        for user in batch:
            pipe.zrevrank(single.keys[0], user)
        zrevranks = await pipe.execute()
        assert got == [None if r is None else r + 1 for r in zrevranks]
        assert [None if r is None else percentile(r, total) for r in got] == [
            None if r is None else percentile(r + 1, USERS) for r in zrevranks
        ]


@pytest.mark.parametrize(
    ("offset", "limit"),
    [
        (0, 1000),
        (DIRECT_MERGE_ROWS - 10, 10),  # the last page merged directly
        (DIRECT_MERGE_ROWS - 5, 10),  # the first found by bisection
        (50_000, 1000),
        (USERS - 2100, 1000),  # inside the tie block at the bottom
        (USERS - 10, 1000),  # a short last page
        (USERS, 10),  # past the end
    ],
)
async def test_sharded_pages_equal_one_sorted_sets(
    boards: tuple[RedisClient, Leaderboard, Leaderboard, dict[str, float]],
    offset: int,
    limit: int,
) -> None:
    redis, single, sharded, _ = boards
    reference = await redis.zrevrange(single.keys[0], offset, offset + limit - 1, withscores=True)
    rows, total = await sharded.top(offset, limit)
    assert total == USERS
    assert rows == [(str(user), float(raw)) for user, raw in reference]
    assert await single.top(offset, limit) == (rows, total)


async def test_counts_above_a_raw_and_raws_of_users(
    boards: tuple[RedisClient, Leaderboard, Leaderboard, dict[str, float]],
) -> None:
    redis, single, sharded, raws = boards
    probes = [0.0, 0.1, 1.0, 7.25, 100.0, 1e9]
    expected = [int(await redis.zcount(single.keys[0], f"({p!r}", "+inf")) for p in probes]
    assert await sharded.count_above(probes) == expected
    users = [*list(raws)[:500], "nobody"]
    assert await sharded.raws(users) == [*(raws[u] for u in users[:-1]), None]
