"""The web side on a tiny FastAPI app, fed by a fake Kafka source and a fake Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.settings import Settings
from app.ops.monitor import OpsMonitor
from app.ops.tracker import MemberInfo, Observation, PartitionObservation
from app.ops.web import install_ops
from app.store.health import TOPIC_MEMORY_SAMPLE, probe_redis

MEMBER = MemberInfo("worker-1-abc", "worker-1", "/10.0.0.1", 2)


class FakeSource:
    """Stands in for KafkaLagCollector; counts how often Kafka would have been asked."""

    def __init__(self) -> None:
        self.collects = 0
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def collect(self) -> Observation:
        self.collects += 1
        return Observation(
            ts_ms=int(time.time() * 1000),
            group="clout-scorer",
            group_state="Stable",
            members=(MEMBER,),
            partitions=(
                PartitionObservation("clout.likes", 0, 0, 120, 100, owner=MEMBER.member_id),
                PartitionObservation("clout.likes", 1, 0, 50, 50, owner=MEMBER.member_id),
                PartitionObservation("clout.shares", 0, error="NotLeaderForPartitionError"),
            ),
            produced_ends={"clout.dead-letters": 7},
        )


class FakePipeline:
    def __init__(self, stamp: str | None, refit: bytes | None = None) -> None:
        self.stamp = stamp
        self.refit = refit
        self.calls: list[str] = []

    def ping(self) -> None:
        self.calls.append("ping")

    def info(self, section: str) -> None:
        self.calls.append(f"info {section}")

    def hget(self, key: str, field: str) -> None:
        self.calls.append(f"hget {key} {field}")

    def lindex(self, key: str, index: int) -> None:
        self.calls.append(f"lindex {key} {index}")

    def zcard(self, key: str) -> None:
        self.calls.append(f"zcard {key}")

    def zrevrange(self, key: str, start: int, end: int) -> None:
        self.calls.append(f"zrevrange {key} {start} {end}")

    def memory_usage(self, key: str) -> None:
        self.calls.append(f"memory usage {key}")

    async def execute(self) -> list[Any]:
        """Two live topics, `coffee` and `tea`; each key of theirs takes 100 bytes."""
        replies = {
            "ping": True,
            "info": {"used_memory": 2048},
            "hget": self.stamp,
            "lindex": self.refit,
            "zcard": 2,
            "zrevrange": ["coffee", "tea"],
            "memory": 100,
        }
        return [replies[call.split()[0]] for call in self.calls]


class FakeRedis:
    def __init__(self, stamp: str | None = "1000", refit: bytes | None = None) -> None:
        self.stamp = stamp
        self.refit = refit
        self.pipelines: list[FakePipeline] = []

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        pipe = FakePipeline(self.stamp, self.refit)
        self.pipelines.append(pipe)
        return pipe

    async def aclose(self) -> None:
        pass


def settings() -> Settings:
    # one poll at start-up, none after (the interval is an hour): deterministic figures
    return Settings().model_copy(update={"ops_poll_interval_s": 3600.0})


def wait_for(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, FakeSource, OpsMonitor]]:
    source = FakeSource()
    monitor = OpsMonitor(settings(), source=source, redis=FakeRedis())  # type: ignore[arg-type]
    app = FastAPI()
    install_ops(app, settings(), monitor=monitor)
    with TestClient(app) as client:
        wait_for(lambda: monitor.version >= 1)
        yield client, source, monitor
    assert source.stopped


def test_lag_json(served: tuple[TestClient, FakeSource, OpsMonitor]) -> None:
    client, _, _ = served
    doc = client.get("/ops/lag").json()
    assert doc["group"] == "clout-scorer"
    assert doc["summary"]["total_lag"] == 20
    rows = {(row["topic"], row["partition"]): row for row in doc["partitions"]}
    assert rows[("clout.likes", 0)]["lag"] == 20
    assert rows[("clout.likes", 0)]["error"] is None
    assert rows[("clout.shares", 0)]["status"] == "ERR"
    assert rows[("clout.shares", 0)]["error"] == "NotLeaderForPartitionError"
    assert doc["status"] == "ERR"
    assert doc["pipeline"]["redis"]["reachable"] is True
    assert doc["pipeline"]["redis"]["used_memory_bytes"] == 2048
    assert len(doc["history"]) == 1
    short = client.get("/ops/lag", params={"history": "false"}).json()
    assert "history" not in short
    assert short["point"][1] == 20


def test_metrics_read_the_cache_and_never_call_kafka(
    served: tuple[TestClient, FakeSource, OpsMonitor],
) -> None:
    client, source, _ = served
    before = source.collects
    for _ in range(5):
        response = client.get("/metrics")
        assert response.status_code == 200
    assert source.collects == before
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    lag = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for s in families["kafka_consumergroup_lag"].samples
    }
    assert lag == {("clout.likes", "0"): 20.0, ("clout.likes", "1"): 0.0}
    assert all(
        s.labels["consumergroup"] == "clout-scorer"
        for s in families["kafka_consumergroup_lag"].samples
    )
    (lag_sum,) = [
        s
        for s in families["kafka_consumergroup_lag_sum"].samples
        if s.labels["topic"] == "clout.likes"
    ]
    assert lag_sum.value == 20.0
    current = {
        s.labels["partition"]: s.value
        for s in families["kafka_consumergroup_current_offset"].samples
    }
    assert current == {"0": 100.0, "1": 50.0}
    end = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for s in families["kafka_topic_partition_current_offset"].samples
    }
    assert end == {("clout.likes", "0"): 120.0, ("clout.likes", "1"): 50.0}
    assert {s.labels["partition"] for s in families["kafka_consumergroup_lag_seconds"].samples} == {
        "0",
        "1",
    }
    assert families["kafka_consumergroup_status"].samples[0].value == 3.0  # ERR
    statuses = {
        (s.labels["topic"], s.labels["partition"]): s.value
        for s in families["kafka_consumergroup_partition_status"].samples
    }
    assert statuses[("clout.shares", "0")] == 3.0
    assert statuses[("clout.likes", "0")] == 1.0
    assert families["clout_redis_up"].samples[0].value == 1.0
    assert families["clout_redis_used_memory_bytes"].samples[0].value == 2048.0
    assert families["clout_topics_live"].samples[0].value == 2.0  # FakePipeline's two topics
    assert families["clout_topic_memory_bytes"].samples[0].value == 400.0
    assert families["clout_ops_kafka_up"].samples[0].value == 1.0
    assert "clout_pipeline_events_per_second" in families
    assert "clout_pipeline_dead_letters_per_minute" in families


@pytest.mark.parametrize("refitted_s_ago", [None, 90.0])
def test_curve_refit_age_is_a_metric_once_the_curve_was_fitted(
    refitted_s_ago: float | None,
) -> None:
    """The alert on a curve not refitted reads this gauge; before the first fit it is absent."""
    refit = None
    if refitted_s_ago is not None:
        fitted_at_ms = int((time.time() - refitted_s_ago) * 1000)
        refit = orjson.dumps({"version": 3, "fitted_at_ms": fitted_at_ms})
    redis = FakeRedis(refit=refit)
    monitor = OpsMonitor(settings(), source=FakeSource(), redis=redis)  # type: ignore[arg-type]
    app = FastAPI()
    install_ops(app, settings(), monitor=monitor)
    with TestClient(app) as client:
        wait_for(lambda: monitor.version >= 1)
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    age = families.get("clout_curve_last_refit_age_seconds")
    if refitted_s_ago is None:
        assert age is None or not age.samples
    else:
        assert age is not None
        assert refitted_s_ago <= age.samples[0].value < refitted_s_ago + 30


def test_page_and_assets_are_served(served: tuple[TestClient, FakeSource, OpsMonitor]) -> None:
    client, _, _ = served
    page = client.get("/ops")
    assert page.status_code == 200
    assert 'id="partitions"' in page.text
    assert "ops/assets/ops.js" in page.text
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no CDN
    for name, kind in (("ops.js", "javascript"), ("chart.js", "javascript"), ("ops.css", "css")):
        asset = client.get(f"/ops/assets/{name}")
        assert asset.status_code == 200
        assert kind in asset.headers["content-type"]
    assert client.get("/ops/assets/secret.py").status_code == 404
    assert client.get("/ops/assets/..%2Fweb.py").status_code == 404


def test_install_ops_keeps_the_apps_own_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("app up")
        yield
        events.append("app down")

    source = FakeSource()
    monitor = OpsMonitor(settings(), source=source, redis=FakeRedis())  # type: ignore[arg-type]
    app = FastAPI(lifespan=lifespan)
    install_ops(app, settings(), monitor=monitor)
    with TestClient(app):
        wait_for(lambda: monitor.version >= 1)
        assert monitor.running
        assert events == ["app up"]
    assert events == ["app up", "app down"]
    assert not monitor.running
    assert source.started
    assert source.stopped


def test_a_failing_source_is_reported_not_raised() -> None:
    class Broken(FakeSource):
        async def collect(self) -> Observation:
            raise ConnectionError("no broker at 127.0.0.1:9")

    monitor = OpsMonitor(settings(), source=Broken(), redis=FakeRedis())  # type: ignore[arg-type]
    app = FastAPI()
    install_ops(app, settings(), monitor=monitor)
    with TestClient(app) as client:
        wait_for(lambda: monitor.version >= 1)
        doc = client.get("/ops/lag").json()
        metrics = client.get("/metrics").text
    assert doc["status"] == "ERR"
    assert doc["poll"]["kafka_up"] is False
    assert "no broker at 127.0.0.1:9" in doc["poll"]["error"]
    assert "clout_ops_kafka_up 0.0" in metrics


async def test_probe_redis_reads_memory_and_the_writers_stamp() -> None:
    redis = FakeRedis(stamp="10000")
    health = await probe_redis(redis, "clout:v1", now_ms=12_500)  # type: ignore[arg-type]
    assert health.reachable is True
    assert health.used_memory_bytes == 2048
    assert health.last_write_ms == 10_000
    assert health.last_write_age_s == pytest.approx(2.5)
    assert redis.pipelines[0].calls == [
        "ping",
        "info memory",
        "hget clout:v1:stats last_write_ms",
        "lindex clout:v1:{curve}:history 0",
        "zcard clout:v1:{topics}",
        f"zrevrange clout:v1:{{topics}} 0 {TOPIC_MEMORY_SAMPLE - 1}",
        "memory usage clout:v1:{topics}",
        "memory usage clout:v1:{curve}:topics",
    ]
    # One shard on a single server: each topic's one board key, in the second round trip.
    assert redis.pipelines[1].calls == [
        "memory usage clout:v1:topic-board:{coffee:0of1}",
        "memory usage clout:v1:topic-board:{tea:0of1}",
    ]
    assert (health.live_topics, health.topic_memory_bytes) == (2, 400)
    assert health.topic_memory_estimated is False
    assert health.last_refit is None
    none_yet = await probe_redis(FakeRedis(stamp=None), "p", now_ms=1)  # type: ignore[arg-type]
    assert (none_yet.last_write_ms, none_yet.last_write_age_s) == (None, None)


async def test_probe_of_an_unreachable_redis_says_why() -> None:
    with socket.socket() as sock:  # a free port: bound, then released, nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=2)
    try:
        health = await probe_redis(client, "nowhere")
    finally:
        await client.aclose()
    assert health.reachable is False
    assert health.error is not None
    assert health.used_memory_bytes is None


def test_install_ops_works_outside_an_event_loop() -> None:
    """Apps are built at import time, before any loop: nothing may need one until start-up."""
    app = FastAPI()
    install_ops(app, settings())
    assert isinstance(app.state.ops_monitor, OpsMonitor)
    assert not app.state.ops_monitor.running
