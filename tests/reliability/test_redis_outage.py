"""Redis outage under load: the worker's own redis-server is stopped for 30 s, then restarted.

While Redis is down the worker must hold back (no message acknowledged, so nothing is skipped and
nothing piles up in memory beyond Faust's bounded stream buffers), retry with capped exponential
backoff and say so in its log; the ops monitor must show Redis unreachable. Once Redis is back the
stored cards must converge to the exact values. The shared Redis is never touched: the test runs
its own redis-server on a free port.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.ops.metrics import ops_registry
from app.ops.monitor import OpsMonitor
from tests.support.outcome import (
    assert_counted_once_and_feed_on_cards,
    card_mismatches,
    read_cards,
)
from tests.support.private_servers import PrivateRedis
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.waiting import eventually
from tests.support.worker import (
    WorkerProcess,
    committed_and_ends,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(400)]

OUTAGE_S = 30.0
MAX_BACKOFF_S = 2.0


async def test_worker_holds_back_during_a_30s_redis_outage_and_converges_after(
    stack: Settings, tmp_path: Path
) -> None:
    redis_server = PrivateRedis(tmp_path / "redis")
    redis_server.start()
    settings = isolated(
        stack,
        redis_url=redis_server.url,
        worker_metrics_port=0,
        sweep_interval_s=1.0,
        redis_retry_max_backoff_s=MAX_BACKOFF_S,
        ops_poll_interval_s=1.0,
        ops_kafka_timeout_s=3.0,
    )
    topics = [*settings.input_topics, settings.topic_rekeyed]
    traffic = make_traffic(settings, seed=23, targets=1200)
    params = settings.model_params()
    client = redis_server.client()
    worker = WorkerProcess(settings, tmp_path)
    monitor = OpsMonitor(settings)
    try:
        await give_standing(client, settings, traffic.actors)
        worker.start()
        await wait_until_consuming(settings, [worker])
        await monitor.start()
        producing = asyncio.create_task(produce_all(settings, traffic.messages, pace_per_s=400))

        async def some_cards() -> bool:
            return len(await read_cards(client, settings, traffic.targets[:200])) >= 20

        await eventually(some_cards, what="the first cards in Redis", deadline_s=60)
        assert not producing.done(), "the outage must start while events are still arriving"
        redis_server.stop()
        down_at = time.monotonic()

        async def monitor_sees_redis_down() -> bool:
            redis = monitor.snapshot.redis
            return redis is not None and not redis.reachable

        await eventually(monitor_sees_redis_down, what="the ops monitor to report Redis down")
        redis_health = monitor.snapshot.redis
        assert redis_health is not None
        assert redis_health.error, "the dashboard says why Redis is unreachable"
        doc = monitor.document(history=False)  # what /ops/lag serves
        assert doc["pipeline"]["redis"]["reachable"] is False
        metrics = generate_latest(ops_registry(lambda: monitor.snapshot)).decode()
        assert re.search(r"^clout_redis_up 0\.0$", metrics, re.M), metrics

        # Backpressure: give in-flight commits a few seconds, then nothing more may be
        # acknowledged for as long as Redis is away (the agent waits; it skips nothing).
        await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - down_at)))
        frozen, _ = await committed_and_ends(settings, topics)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        still, ends = await committed_and_ends(settings, topics)
        assert still == frozen, "offsets were committed while Redis was down"
        assert any(ends[tp] > still.get(tp, 0) for tp in ends), "there was a backlog"
        worker.assert_alive()
        redis = monitor.snapshot.redis
        assert redis is not None
        assert not redis.reachable, "the dashboard shows the outage for as long as it lasts"

        redis_server.start()
        await client.aclose()  # its pooled connection died with the server
        client = redis_server.client()

        async def monitor_sees_redis_up() -> bool:
            redis = monitor.snapshot.redis
            return redis is not None and redis.reachable

        await eventually(monitor_sees_redis_up, what="the ops monitor to report Redis back")
        await producing
        await wait_caught_up(settings, topics, deadline_s=180, alive=[worker])

        cards = await read_cards(client, settings, traffic.targets)
        problems = card_mismatches(cards, traffic.expected_states(params), params)
        assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
        # Writes that failed part way were retried: the feed still ends on every final card.
        await assert_counted_once_and_feed_on_cards(client, settings, len(traffic.counted))

        log = worker.log_path.read_text(errors="replace")
        delays = [
            float(d) for d in re.findall(r"Redis unavailable during .*retrying in ([\d.]+)s", log)
        ]
        assert len(delays) >= 5, worker.log_tail(40)
        assert max(delays) <= MAX_BACKOFF_S, "backoff is capped"
        assert "Traceback" not in log, worker.log_tail(60)
        worker.assert_alive()
    finally:
        await monitor.stop()
        worker.stop()
        await client.aclose()
        redis_server.stop()
