"""Shared fixtures: the real local stack and isolated per-test settings.

Integration tests talk to the real Kafka broker and redis-server started by `make stack-up`.
When CI is set, an unreachable service fails the test run instead of skipping it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.devtools.redis_cluster import LocalRedisCluster


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack() -> Settings:
    """Default settings, after checking that Kafka and Redis answer (CI: fail, else skip)."""
    settings = Settings()
    missing = [
        f"{name} at {host}:{port}"
        for name, (host, port) in (
            ("Kafka", settings.kafka_host_port),
            ("Redis", settings.redis_host_port),
        )
        if not _reachable(host, port)
    ]
    if missing:
        message = f"not reachable: {', '.join(missing)} (run `make stack-up`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return settings


@pytest.fixture
def isolated_settings(stack: Settings) -> Settings:
    """Settings with topics, consumer group and Redis prefix unique to this test."""
    return isolated(stack)


@pytest.fixture
async def redis_client(stack: Settings) -> AsyncIterator[aioredis.Redis]:
    """A raw redis-py client on the real server, for independent checks."""
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A private Redis Cluster (three masters, one replica each) on free loopback ports,
    started once per test session under its temporary folder and stopped at the end; tests
    may kill its nodes (never the shared server's)."""
    cluster = LocalRedisCluster.on_free_ports(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def cluster_stack(stack: Settings, redis_cluster: LocalRedisCluster) -> Settings:
    """The stack's settings with Redis pointed at the private cluster."""
    return stack.model_copy(update=redis_cluster.settings())


REAL_STACK_MARKERS = ("integration", "e2e", "reliability", "redis_cluster")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Say how many tests ran against the real stack, so a silent skip cannot pass unseen."""
    counts = {marker: {"passed": 0, "failed": 0, "skipped": 0} for marker in REAL_STACK_MARKERS}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when != "call" and outcome != "skipped":
                continue
            for marker in REAL_STACK_MARKERS:
                if marker in report.keywords:
                    counts[marker][outcome] += 1
    lines = [
        f"{marker:<12} passed={c['passed']} failed={c['failed']} skipped={c['skipped']}"
        for marker, c in counts.items()
    ]
    terminalreporter.write_sep("-", "tests against the real Kafka, Redis and Chromium")
    for line in lines:
        terminalreporter.write_line(line)
