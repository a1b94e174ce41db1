"""The set-up the worker crash tests share: isolated settings, traffic, standing, clean-up.

`async with crash_scenario(stack, seed=..., targets=...) as run:` gives settings isolated for this
test (a worker session that expires fast, a short sweep), the traffic to send, the topics the
workers consume and a Redis client on which the actors already have their standing; on the way out
it removes the test's keys. Workers are the test's own: stop them inside the block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.store.cleanup import delete_prefix
from tests.support.outcome import group_members
from tests.support.traffic import Traffic, give_standing, make_traffic
from tests.support.worker import WorkerProcess, wait_until_consuming

CRASH_TEST_MARKS = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(420)]
"""A crash test's `pytestmark`: the real stack, and time for two workers' start-ups."""


@dataclass(frozen=True)
class CrashScenario:
    """What one crash test works with."""

    settings: Settings
    traffic: Traffic
    topics: list[str]  # the input topics and the re-key topic: what a worker consumes
    redis: aioredis.Redis


@asynccontextmanager
async def crash_scenario(
    stack: Settings, *, seed: int, targets: int, batch_max_events: int = 400
) -> AsyncIterator[CrashScenario]:
    """Settings, traffic and a Redis client for one crash test; the test's keys go on exit."""
    settings = isolated(
        stack,
        worker_metrics_port=0,
        sweep_interval_s=2.0,
        batch_max_events=batch_max_events,
        worker_session_timeout_s=8.0,
    )
    traffic = make_traffic(settings, seed=seed, targets=targets)
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await give_standing(client, settings, traffic.actors)
        yield CrashScenario(
            settings, traffic, [*settings.input_topics, settings.topic_rekeyed], client
        )
    finally:
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()


async def start_two_owners(
    settings: Settings, first: WorkerProcess, second: WorkerProcess
) -> set[tuple[str, int]]:
    """Start `first`, then `second`; once both own partitions, the partitions `first` owns."""
    first.start()
    await wait_until_consuming(settings, [first])
    (first_id,) = await group_members(settings)
    second.start()
    await wait_until_consuming(settings, [first, second], members=2)
    members = await group_members(settings)
    assert members[first_id], members
    assert all(members.values()), f"both workers must own partitions: {members}"
    return members[first_id]
