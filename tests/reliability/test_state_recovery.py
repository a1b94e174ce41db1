"""State recovery: a worker whose local table store is deleted rebuilds it from the changelog.

Phase 1 traffic is scored by an uninterrupted worker (which must match the exact model: this is
the check that the model is what an uninterrupted run computes). The worker is stopped, its data
directory (RocksDB) deleted, and it is started again. The stored scores are unchanged, and phase
2 traffic to the same users from new actors must land on top of the restored state: the final
cards equal the exact model over phase 1 + phase 2. Had the tables come back empty, every card
would only reflect phase 2.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.store.cleanup import delete_prefix
from tests.support.outcome import card_mismatches, read_cards, seen_positions
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.integration,
    pytest.mark.timeout(300),
]


async def test_deleted_table_store_is_rebuilt_from_the_changelog(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(stack, worker_metrics_port=0, sweep_interval_s=2.0)
    topics = [*settings.input_topics, settings.topic_rekeyed]
    params = settings.model_params()
    first = make_traffic(settings, seed=31, targets=800)
    second = make_traffic(settings, seed=32, targets=800, actor_tag="b")
    assert second.targets == first.targets
    assert not set(second.actors) & set(first.actors)
    both = first.then(second)
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    worker = WorkerProcess(settings, tmp_path, loglevel="info")
    try:
        await give_standing(client, settings, both.actors)
        worker.start()
        await wait_until_consuming(settings, [worker])
        await produce_all(settings, first.messages)
        await wait_caught_up(settings, topics, alive=[worker])
        before = await read_cards(client, settings, first.targets)
        problems = card_mismatches(before, first.expected_states(params), params)
        assert not problems, f"uninterrupted run: {len(problems)} differences: {problems[:10]}"

        worker.stop()
        assert worker.data_dir.exists()
        shutil.rmtree(worker.data_dir)
        worker.start()
        await wait_until_consuming(settings, [worker])
        assert worker.data_dir.exists(), "the worker made a new table store"
        unchanged = await read_cards(client, settings, first.targets)
        problems = card_mismatches(unchanged, first.expected_states(params), params)
        assert not problems, f"after the restart: {len(problems)} differences: {problems[:10]}"

        await produce_all(settings, second.messages)
        await wait_caught_up(settings, topics, alive=[worker])
        after = await read_cards(client, settings, both.targets)
        problems = card_mismatches(after, both.expected_states(params), params)
        assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
        # The check discriminates: state rebuilt empty would have given phase 2 alone.
        alone = card_mismatches(after, second.expected_states(params), params)
        assert {p.split(":")[0] for p in alone} >= set(first.targets)
        assert len(await seen_positions(client, settings)) == len(both.counted)
        log = worker.log_path.read_text(errors="replace")
        assert "Traceback" not in log, worker.log_tail(60)
        assert "Restoring state from changelog topics" in log, "the restart read the changelog"
    finally:
        worker.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
