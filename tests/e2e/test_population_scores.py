"""The reference population through the real pipeline: `clout simulate` -> worker -> Redis.

After `clout simulate --users 20000 --events 200000 --seed 7` has been consumed, the scores in
Redis are graded on the documented curve: median active user 40 +/- 5, top 5% >= 60,
top 0.1% >= 80. The whole path runs twice: on the shared single redis-server and on the private
three-master Redis Cluster (`[cluster]`, with its sharded leaderboard). And `clout gaming-report`
says bought engagement is worth a tenth of organic.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.simulation import population_stats
from app.simulation.population import generate_events
from app.store.client import ScoreClient
from tests.support.cli import run_clout
from tests.support.redis_variants import REDIS_VARIANTS, stack_on
from tests.support.worker import (
    WorkerProcess,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = pytest.mark.e2e

USERS, EVENTS, SEED = 20_000, 200_000, 7


@pytest.fixture(params=REDIS_VARIANTS)
def redis_variant_stack(request: pytest.FixtureRequest) -> Settings:
    """The stack on the single redis-server, then on the private Redis Cluster."""
    return stack_on(request)


async def test_reference_population_is_graded_on_the_curve(
    redis_variant_stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(redis_variant_stack, worker_metrics_port=0)
    targets = {e["target_id"] for _, e in generate_events(USERS, EVENTS, SEED, end_ms=0)}
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        await wait_until_consuming(settings, [worker])
        started = time.monotonic()
        out = run_clout(
            settings,
            "simulate",
            "--users",
            str(USERS),
            "--events",
            str(EVENTS),
            "--seed",
            str(SEED),
        )
        assert f"accepted={EVENTS} rejected=0" in out

        topics = [*settings.input_topics, settings.topic_rekeyed]
        await wait_caught_up(settings, topics, deadline_s=900, alive=[worker])
        print(f"{EVENTS} events produced and scored in {time.monotonic() - started:.0f}s")
    finally:
        worker.stop()

    async with ScoreClient.from_settings(settings) as client:
        stored = await client.get_many(sorted(targets))
    missing = [user for user, score in stored.items() if score is None]
    assert not missing, f"{len(missing)} active users have no score, e.g. {missing[:5]}"
    scores = {user: score for user, score in stored.items() if score is not None}
    stats = population_stats(scores)
    print(stats)
    assert stats.active == len(targets)
    assert 35.0 <= stats.median <= 45.0
    assert stats.top_5pct_min >= 60.0
    assert stats.top_0_1pct_min >= 80.0
    # The (sharded) leaderboard ranks every user exactly as one sorted set would: by raw, ties
    # by the greater id first.
    by_rank = sorted(scores.values(), key=lambda s: (s.raw, s.user_id), reverse=True)
    assert [s.rank for s in by_rank] == list(range(1, len(by_rank) + 1))
    assert {s.ranked for s in by_rank} == {len(by_rank)}


def test_gaming_report_ratio(stack: Settings) -> None:
    last = run_clout(stack, "gaming-report").strip().splitlines()[-1]
    fields = dict(part.split("=") for part in last.split())
    assert set(fields) == {"bought_points_per_1000", "organic_points_per_1000", "ratio"}
    assert float(fields["ratio"]) >= 10.0
