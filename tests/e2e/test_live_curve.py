"""Graded on a curve for any population, through the real pipeline (issue 11).

Four synthetic populations that differ tenfold in activity per user and in tail weight (the
reference shape included) each go `clout simulate` -> Kafka -> `clout worker` -> Redis under a
deployment of their own; then one `clout curve fit` (a deployment's first fit applies in full),
the worker takes the new curve up and re-scores everyone, and the scores read back from Redis
are graded on the curve: median active user 40 +/- 3, top 5% >= 60, top 0.1% >= 80.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.simulation import population_stats
from app.simulation.population import generate_events
from app.store.client import ScoreClient
from tests.support.cli import run_clout
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = pytest.mark.e2e

USERS, SEED = 5000, 7
POPULATIONS = {
    # name: (events, audience sigma); 1.6 vs 16 events per user, tails of sigma 1.0 vs 2.6
    "reference": (40_000, 1.7),
    "quiet-light-tail": (8_000, 1.0),
    "busy-heavy-tail": (80_000, 2.6),
    "busy-light-tail": (80_000, 1.0),
}


async def all_on_curve(
    client: ScoreClient, users: list[str], version: int, deadline_s: float
) -> float:
    """Seconds until every user's card in Redis was made by curve `version`."""
    started = time.monotonic()
    while True:
        stored = await client.get_many(users)
        behind = [u for u, s in stored.items() if s is None or s.curve_version != version]
        if not behind:
            return time.monotonic() - started
        assert time.monotonic() - started < deadline_s, f"{len(behind)} users still behind"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("name", list(POPULATIONS))
async def test_any_population_is_graded_on_the_curve_after_one_refit(
    stack: Settings, tmp_path: Path, name: str
) -> None:
    events, sigma = POPULATIONS[name]
    settings = isolated(stack, worker_metrics_port=0)
    settings = settings.model_copy(
        update={"curve": settings.curve.model_copy(update={"follow_interval_s": 1.0})}
    )
    targets = sorted(
        {e["target_id"] for _, e in generate_events(USERS, events, SEED, 0, audience_sigma=sigma)}
    )
    worker = WorkerProcess(settings, tmp_path)
    worker.start()
    try:
        await wait_until_consuming(settings, [worker])
        out = run_clout(
            settings,
            "simulate",
            *("--users", str(USERS), "--events", str(events), "--seed", str(SEED)),
            *("--audience-sigma", str(sigma)),
        )
        assert f"accepted={events} rejected=0" in out
        topics = [*settings.input_topics, settings.topic_rekeyed]
        await wait_caught_up(settings, topics, deadline_s=600, alive=[worker])
        async with ScoreClient.from_settings(settings) as client:
            before = population_stats(
                {u: s for u, s in (await client.get_many(targets)).items() if s is not None}
            )
            fitted = run_clout(settings, "curve", "fit")
            assert "refit v0 -> v1 (in full)" in fitted
            mixed_s = await all_on_curve(client, targets, 1, deadline_s=120)
            worker.assert_alive()
            stored = await client.get_many(targets)
    finally:
        worker.stop()

    scores = {user: score for user, score in stored.items() if score is not None}
    assert len(scores) == len(targets)
    stats = population_stats(scores)
    print(
        f"{name}: {len(targets)} active, before the fit median {before.median:.1f} / top 5%"
        f" {before.top_5pct_min:.1f} / top 0.1% {before.top_0_1pct_min:.1f}; after: median"
        f" {stats.median:.1f} / {stats.top_5pct_min:.1f} / {stats.top_0_1pct_min:.1f}"
        f" (max {stats.max:.1f}); all cards on the new curve {mixed_s:.1f}s after the fit"
    )
    assert 37.0 <= stats.median <= 43.0
    assert stats.top_5pct_min >= 60.0
    assert stats.top_0_1pct_min >= 80.0
