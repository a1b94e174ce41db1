"""A three-broker cluster loses the leader of a busy input partition (kill -9) mid-stream.

Our own KRaft cluster of three combined nodes on free ports (never the shared broker): topics
replicated 3 times with `min.insync.replicas` 2, producers with acks=all and idempotence (the
SDK's settings). The leader of an input partition the worker is busy reading is killed with
SIGKILL; the cluster elects a new leader from the in-sync replicas, traffic keeps flowing, and
the dead broker is restarted later and catches up. The final cards must equal one uninterrupted
run exactly (the exact model applied once to every counted event), with one first sighting per
counted event.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.config import aiokafka_kwargs
from app.store.cleanup import delete_prefix
from tests.support.outcome import (
    card_mismatches,
    read_cards,
    seen_positions,
    wait_for_exact_cards,
)
from tests.support.private_servers import PrivateKafkaCluster
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.timeout(600),
]

DOWN_S = 20.0
"""How long the killed broker stays dead while traffic flows."""


async def partition_leaders(settings: Settings, topic: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader broker id, in-sync replica ids) of `topic`."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings), request_timeout_ms=5000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: (p["leader"], p["isr"]) for p in described["partitions"]}


async def test_killing_the_leader_of_a_busy_partition_loses_nothing_counts_nothing_twice(
    stack: Settings, tmp_path: Path
) -> None:
    cluster = PrivateKafkaCluster(tmp_path / "kafka", size=3)
    cluster.start()
    settings = isolated(
        stack,
        kafka_bootstrap=cluster.bootstrap,
        topic_replication_factor=3,
        topic_min_insync_replicas=2,
        worker_metrics_port=0,
        sweep_interval_s=2.0,
    )
    topics = [*settings.input_topics, settings.topic_rekeyed]
    traffic = make_traffic(settings, seed=71, targets=1500)
    params = settings.model_params()
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    worker = WorkerProcess(settings, tmp_path)
    producing: asyncio.Task[list[tuple[str, int, int]]] | None = None
    try:
        await cluster.wait_ready()
        await give_standing(client, settings, traffic.actors)
        worker.start()
        await wait_until_consuming(settings, [worker], deadline_s=180)
        leaders = await partition_leaders(settings, settings.topic_likes)
        assert all(len(isr) == 3 for _, isr in leaders.values()), leaders

        producing = asyncio.create_task(produce_all(settings, traffic.messages, pace_per_s=600.0))

        async def busy() -> bool:
            return len(await read_cards(client, settings, traffic.targets)) >= 200

        await eventually(busy, what="the worker to be scoring", deadline_s=120)
        assert not producing.done(), "the traffic ended before the broker could be killed"
        partition = 0
        victim_id, _ = leaders[partition]
        victim = cluster.node(victim_id)
        victim.kill()
        killed_at = time.monotonic()

        async def new_leader() -> int | None:
            try:
                leader, _ = (await partition_leaders(settings, settings.topic_likes))[partition]
            except KafkaError:  # the admin client may pick the dead node for a while
                return None
            return leader if leader not in (victim_id, -1) else None

        await eventually(new_leader, what="a new leader", deadline_s=60, interval_s=0.5)
        while time.monotonic() - killed_at < DOWN_S:
            worker.assert_alive()
            await asyncio.sleep(0.5)
        assert not producing.done(), "traffic must still flow while the broker is dead"
        victim.start()
        await cluster.wait_ready()
        await producing

        await wait_for_exact_cards(client, settings, traffic, deadline_s=300, alive=[worker])
        await wait_caught_up(settings, topics, deadline_s=120, alive=[worker])
        cards = await read_cards(client, settings, traffic.targets)
        problems = card_mismatches(cards, traffic.expected_states(params), params)
        assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
        assert len(await seen_positions(client, settings)) == len(traffic.counted)
        worker.assert_alive()
    finally:
        if producing is not None and not producing.done():
            producing.cancel()
        worker.stop()
        cluster.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
