"""`CLOUT_STACK_ALERTS=on make stack-up` (scripts/stack.py calls `stack_alerting_up`):
Prometheus with the shipped rules, scraping the configured worker and API with a working
`ops:read` key, and Alertmanager, on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.devtools.alerting import (
    ALERTMANAGER_BINARY,
    PROMETHEUS_BINARY,
    stack_alerting,
    stack_alerting_up,
)
from app.devtools.isolation import free_ports, isolated
from app.ops.alerts import alerting_rules, recording_rules
from app.security.access import ApiKeyRecord, Scope, parse_key
from app.store.api_keys import ApiKeyStore
from tests.support.promql import installed

pytestmark = pytest.mark.integration


async def find_key(settings: Settings, key_id: str) -> ApiKeyRecord | None:
    async with ApiKeyStore.from_settings(settings) as store:
        return await store.find(key_id)


def test_stack_up_starts_prometheus_and_alertmanager_on_loopback(
    stack: Settings, tmp_path: Path
) -> None:
    installed(PROMETHEUS_BINARY)
    installed(ALERTMANAGER_BINARY)
    prometheus_port, alertmanager_port, api_port, worker_port = free_ports(4)
    settings = isolated(
        stack,
        stack_alerts="on",
        stack_prometheus_port=prometheus_port,
        stack_alertmanager_port=alertmanager_port,
        api_port=api_port,
        worker_metrics_port=worker_port,
    )
    home = tmp_path / "alerting"  # never the developer's own .stack/alerting
    alerting = stack_alerting(settings, home)
    try:
        assert stack_alerting_up(settings, home).startswith("started")
        assert stack_alerting_up(settings, home).startswith("reused")
        with httpx.Client(base_url=alerting.prometheus_url) as client:
            groups = client.get("/api/v1/rules").json()["data"]["groups"]
            deadline = time.monotonic() + 30  # targets appear after the first discovery
            targets: list[dict[str, Any]] = []
            while len(targets) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                targets = client.get("/api/v1/targets").json()["data"]["activeTargets"]
        assert sum(len(g["rules"]) for g in groups) == len(recording_rules()) + len(
            alerting_rules(settings)
        )
        assert {(t["labels"]["job"], t["scrapeUrl"]) for t in targets} == {
            ("clout-worker", f"http://127.0.0.1:{worker_port}/metrics"),
            ("clout-api", f"http://127.0.0.1:{api_port}/metrics"),
        }
        presented = parse_key((home / "api-key").read_text())
        assert presented is not None
        record = asyncio.run(find_key(settings, presented.key_id))
        assert record is not None
        assert record.matches(presented)
        assert (record.name, record.scopes) == ("stack-prometheus", {Scope.OPS_READ})
        assert httpx.get(f"{alerting.alertmanager_url}/-/ready").status_code == 200
    finally:
        alerting.stop()
    assert not alerting.running()
