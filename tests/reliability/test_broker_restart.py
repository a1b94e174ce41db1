"""Broker restart under load: the worker's Kafka (our own SASL broker) goes down mid-backlog.

The worker must ride it out and reconnect by itself; after the broker is back, more traffic is
sent, and the final cards must equal the exact model over everything (nothing lost, nothing
counted twice). The shared broker is never touched.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.store.cleanup import delete_prefix
from tests.support.outcome import card_mismatches, read_cards, seen_positions
from tests.support.private_servers import PrivateKafka, on_sasl_kafka
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.waiting import eventually
from tests.support.worker import (
    WorkerProcess,
    committed_and_ends,
    wait_caught_up,
    wait_until_consuming,
)

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(420)]

DOWN_S = 10.0


async def test_worker_reconnects_after_a_broker_restart_and_scores_stay_exact(
    stack: Settings, sasl_kafka: PrivateKafka, tmp_path: Path
) -> None:
    settings = on_sasl_kafka(
        isolated(stack, worker_metrics_port=0, sweep_interval_s=2.0), sasl_kafka
    )
    topics = [*settings.input_topics, settings.topic_rekeyed]
    params = settings.model_params()
    first = make_traffic(settings, seed=41, targets=1200)
    second = make_traffic(settings, seed=42, targets=1200, actor_tag="b")
    both = first.then(second)
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    worker = WorkerProcess(settings, tmp_path)
    try:
        await give_standing(client, settings, both.actors)
        worker.start()
        await wait_until_consuming(settings, [worker])
        await produce_all(settings, first.messages)

        async def working() -> bool:
            return len(await read_cards(client, settings, first.targets[:300])) >= 30

        await eventually(working, what="the worker to be scoring", deadline_s=60)
        committed, ends = await committed_and_ends(settings, topics)
        assert any(ends[tp] > committed.get(tp, 0) for tp in ends), "the worker has a backlog"

        sasl_kafka.stop()
        down_at = time.monotonic()
        while time.monotonic() - down_at < DOWN_S:
            worker.assert_alive()
            await asyncio.sleep(0.5)
        sasl_kafka.start()
        await sasl_kafka.wait_ready()

        await produce_all(settings, second.messages)
        await wait_caught_up(settings, topics, deadline_s=240, alive=[worker])

        cards = await read_cards(client, settings, both.targets)
        problems = card_mismatches(cards, both.expected_states(params), params)
        assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
        assert len(await seen_positions(client, settings)) == len(both.counted)
        worker.assert_alive()
        assert "Restarting dead" not in worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
