"""The lag alert, live: a real worker and API scraped by a real Prometheus running the shipped
rules (thresholds and `for:` shortened), a real Alertmanager, and a webhook receiver here.

Events flow all along. The worker is stopped: CloutConsumerLagHigh must reach the pager
receiver with the group, topic and partition labels and the runbook link; a worker is started
again: the alert must resolve. The timeline is logged and written to
test-artifacts/alerts-live-timeline.txt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from app.core.settings import AlertSettings, Settings
from app.devtools.alerting import ALERTMANAGER_BINARY, PROMETHEUS_BINARY, AlertingStack, Receivers
from app.devtools.isolation import free_ports, isolated
from app.kafka.config import aiokafka_kwargs
from app.security.access import Scope
from tests.support.api import api_process, issue_key
from tests.support.kafka import encode, make_event
from tests.support.ops import FAST
from tests.support.promql import dashboard_exprs, installed
from tests.support.webhook import WebhookReceiver, webhook_receiver
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
LAG_ALERT = "CloutConsumerLagHigh"
# Short enough for a test of about a minute; the lag threshold stays well above what a running
# worker shows between two commits (CLOUT_WORKER_COMMIT_INTERVAL_S, 2.8 s).
LIVE_ALERTS = AlertSettings(
    evaluation_interval_s=1,
    lag_seconds=10,
    lag_for_s=3,
    status_for_s=3,
    target_down_for_s=2,
)
EVENTS_PER_S = 40
TRAFFIC_MAX_S = 240.0


@pytest.fixture(scope="module")
def alerting_binaries() -> None:
    """Debian's Prometheus and Alertmanager (`make prometheus`): CI fails without them."""
    installed(PROMETHEUS_BINARY)
    installed(ALERTMANAGER_BINARY)


class Timeline:
    """What happened when, in seconds since the test began; logged as it goes."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.events: list[tuple[float, str]] = []

    def note(self, what: str, at: float | None = None) -> None:
        """Record `what` as of `at` (monotonic; default now): a delivery is noted when seen."""
        offset = (at if at is not None else time.monotonic()) - self.start
        self.events.append((offset, what))
        log.warning("alerts-live: %7.1fs  %s", offset, what)

    @property
    def lines(self) -> list[str]:
        """The timeline in time order."""
        return [f"{offset:7.1f}s  {what}" for offset, what in sorted(self.events)]


async def traffic(settings: Settings, stop: asyncio.Event) -> int:
    """Produce likes at about EVENTS_PER_S to both partitions until `stop` (or TRAFFIC_MAX_S)."""
    producer = AIOKafkaProducer(**aiokafka_kwargs(settings), acks="all", linger_ms=5)
    await producer.start()
    sent = 0
    deadline = time.monotonic() + TRAFFIC_MAX_S
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            for _ in range(EVENTS_PER_S // 10):
                key, value = encode(make_event(f"fan-{sent}", f"user-{random.randrange(50)}"))
                await producer.send(settings.topic_likes, value=value, key=key)
                sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def until(
    what: str,
    check: Callable[[], Any],
    timeline: Timeline,
    deadline_s: float,
    context: Callable[[], str] = lambda: "",
) -> Any:
    """Poll `check` (sync or async) every 0.5 s until it returns something truthy."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {deadline_s:.0f}s: {what}\n{context()}")


async def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{prometheus}/api/v1/query", params={"query": expr})
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def lag_alerts(receiver: WebhookReceiver, status: str) -> list[tuple[str, dict[str, Any]]]:
    return [(note.path, alert) for note, alert in receiver.find(LAG_ALERT, status)]


@pytest.mark.timeout(480)  # the waits' deadlines add up past the default 300 s
async def test_lag_alert_fires_at_the_pager_and_resolves(
    stack: Settings, alerting_binaries: None, tmp_path: Path
) -> None:
    timeline = Timeline()
    worker_port, prometheus_port, alertmanager_port = free_ports(3)
    settings = isolated(
        stack,
        topic_partitions=2,
        worker_metrics_port=worker_port,
        alerts=LIVE_ALERTS,
        **FAST,
    )
    key = await issue_key(settings, "prometheus", (Scope.OPS_READ,))
    alerting = AlertingStack(tmp_path / "alerting", prometheus_port, alertmanager_port)
    stop_traffic = asyncio.Event()
    producing: asyncio.Task[int] | None = None
    worker = WorkerProcess(settings, tmp_path)
    with webhook_receiver() as receiver, api_process(settings, tmp_path / "api.log") as api:

        def context() -> str:
            notes = [
                f"{n.path} {n.body.get('status')} {n.body.get('commonLabels')}"
                for n in receiver.received
            ]
            return "\n".join(["webhook:", *notes, "timeline:", *timeline.lines])

        try:
            await asyncio.to_thread(worker.start)
            await wait_until_consuming(settings, [worker])
            timeline.note("worker consuming")
            await asyncio.to_thread(
                alerting.start,
                settings,
                api_key=key,
                worker_targets=[f"127.0.0.1:{worker_port}"],
                api_targets=[api.removeprefix("http://")],
                receivers=Receivers(f"{receiver.url}/pager", f"{receiver.url}/tickets"),
                scrape_interval_s=1,
                group_wait_s=1,
                group_interval_s=1,
            )
            timeline.note("prometheus and alertmanager ready")
            producing = asyncio.create_task(traffic(settings, stop_traffic))

            async def both_scraped() -> bool:
                up = await query(alerting.prometheus_url, "up")
                return {(s["metric"]["job"], s["value"][1]) for s in up} == {
                    ("clout-worker", "1"),
                    ("clout-api", "1"),
                }

            await until("both targets scraped (the API's with the key)", both_scraped, timeline, 30)
            timeline.note("worker and API scraped, up == 1")

            async def lag_series() -> list[dict[str, Any]]:
                return await query(
                    alerting.prometheus_url,
                    f'kafka_consumergroup_lag_seconds{{consumergroup="{settings.app_id}"}}',
                )

            await until("lag seconds scraped for both partitions", lag_series, timeline, 30)
            await asyncio.sleep(8)  # events flow to a running worker: no lag alert
            assert not lag_alerts(receiver, "firing"), context()
            timeline.note("8 s of traffic with the worker running: no lag alert")

            await asyncio.to_thread(worker.stop)
            stopped_at = time.monotonic()
            timeline.note("worker stopped (traffic goes on)")
            fired = await until(
                f"{LAG_ALERT} at the pager",
                lambda: lag_alerts(receiver, "firing"),
                timeline,
                90,
                context,
            )
            first = min(
                (note for note, _ in receiver.find(LAG_ALERT, "firing")), key=lambda n: n.at
            )
            timeline.note(
                f"{LAG_ALERT} delivered to {first.path} "
                f"({first.at - stopped_at:.1f} s after the stop)",
                first.at,
            )
            for path, alert in fired:
                assert path == "/pager"
                labels = alert["labels"]
                assert labels["consumergroup"] == settings.app_id
                assert labels["topic"] == settings.topic_likes
                assert labels["partition"] in {"0", "1"}
                assert labels["severity"] == "critical"
                assert alert["annotations"]["runbook_url"] == "docs/ops.md#cloutconsumerlaghigh"
                assert settings.app_id in alert["annotations"]["summary"]
            for name in ("CloutWorkerMetricsDown", "CloutPartitionStopped"):
                for note, _ in receiver.find(name, "firing")[:1]:
                    timeline.note(f"{name} delivered to {note.path}", note.at)

            worker = WorkerProcess(settings, tmp_path, name="worker-again")
            await asyncio.to_thread(worker.start)
            restarted_at = time.monotonic()
            timeline.note("worker started again")
            firing = {tuple(sorted(alert["labels"].items())) for _, alert in fired}

            def all_resolved() -> bool:
                resolved = {
                    tuple(sorted(alert["labels"].items()))
                    for _, alert in lag_alerts(receiver, "resolved")
                }
                return firing <= resolved

            await until(f"{LAG_ALERT} resolved", all_resolved, timeline, 120, context)
            last = max(
                (note for note, _ in receiver.find(LAG_ALERT, "resolved")), key=lambda n: n.at
            )
            timeline.note(
                f"{LAG_ALERT} resolved at {last.path} "
                f"({last.at - restarted_at:.1f} s after the restart)",
                last.at,
            )
            assert all(path == "/pager" for path, _ in lag_alerts(receiver, "resolved"))

            # The Grafana dashboard's queries run on this real Prometheus (400 on bad PromQL).
            answered = 0
            exprs = dashboard_exprs()
            for expr in exprs:
                rows = await query(alerting.prometheus_url, expr.replace("$group", settings.app_id))
                answered += bool(rows)
            timeline.note(f"dashboard: {len(exprs)} queries accepted, {answered} with data")
            assert answered >= len(exprs) // 2
        finally:
            stop_traffic.set()
            if producing is not None:
                sent = await producing
                timeline.note(f"traffic stopped: {sent} events produced")
            await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(alerting.stop)
            timeline.note("all stopped")
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / "alerts-live-timeline.txt").write_text("\n".join(timeline.lines) + "\n")
