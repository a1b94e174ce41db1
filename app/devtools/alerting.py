"""A real Prometheus and Alertmanager on loopback, for the live alert test and the local stack.

Debian's binaries (`prometheus`, `prometheus-alertmanager`, from scripts/install_prometheus.sh)
run as our own children with configurations written here: Prometheus scrapes the worker's and the
API's `/metrics` (the API's with an `ops:read` key as bearer token), evaluates the rules of
`app.ops.alerts` and sends to Alertmanager, which routes `critical` to a pager receiver and
`warning` to a ticket receiver. Alertmanager's clustering is off, so nothing listens beyond the
given loopback ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.settings import Settings
from app.devtools.processes import live_pid, log_tail, spawn, wait_gone
from app.ops.alerts import API_JOB, WORKER_JOB, duration, rules_yaml
from app.security.access import Scope
from app.store.api_keys import ApiKeyStore

PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"


class AlertingError(RuntimeError):
    """Prometheus or Alertmanager is missing, or did not start."""


@dataclass(frozen=True, slots=True)
class Receivers:
    """Where Alertmanager sends notifications: webhook URLs, or None for none (UI only)."""

    pager: str | None = None
    tickets: str | None = None


def prometheus_config(
    *,
    worker_targets: list[str],
    api_targets: list[str],
    api_key_file: Path,
    rules_file: Path,
    alertmanager: str,
    scrape_interval_s: float,
) -> str:
    """prometheus.yml (as JSON, which YAML reads) for the two jobs the rules expect."""
    interval = duration(scrape_interval_s)
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules_file)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": WORKER_JOB, "static_configs": [{"targets": worker_targets}]},
            {
                "job_name": API_JOB,
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials_file": str(api_key_file)},
                "static_configs": [{"targets": api_targets}],
            },
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def alertmanager_config(
    receivers: Receivers, *, group_wait_s: float, group_interval_s: float
) -> str:
    """alertmanager.yml (as JSON): one notification group per alert and partition; `critical`
    to the pager, everything else to tickets; resolutions are sent too."""

    def receiver(name: str, url: str | None) -> dict[str, Any]:
        if url is None:
            return {"name": name}
        return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}

    config = {
        "route": {
            "receiver": "tickets",
            "group_by": ["alertname", "consumergroup", "topic", "partition", "instance"],
            "group_wait": duration(group_wait_s),
            "group_interval": duration(group_interval_s),
            "repeat_interval": "4h",
            "routes": [{"receiver": "pager", "matchers": ['severity="critical"']}],
        },
        "receivers": [receiver("pager", receivers.pager), receiver("tickets", receivers.tickets)],
    }
    return json.dumps(config, indent=2) + "\n"


def binaries() -> tuple[str, str]:
    """The paths of Prometheus and Alertmanager, or AlertingError naming the install script."""
    found = (shutil.which(PROMETHEUS_BINARY), shutil.which(ALERTMANAGER_BINARY))
    if found[0] is None or found[1] is None:
        raise AlertingError(
            "prometheus or prometheus-alertmanager is missing: run scripts/install_prometheus.sh"
        )
    return found[0], found[1]


@dataclass(frozen=True, slots=True)
class AlertingStack:
    """Where a started Prometheus and Alertmanager keep their files, and their addresses."""

    home: Path
    prometheus_port: int
    alertmanager_port: int
    host: str = "127.0.0.1"

    @property
    def prometheus_url(self) -> str:
        """Prometheus' HTTP address."""
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        """Alertmanager's HTTP address."""
        return f"http://{self.host}:{self.alertmanager_port}"

    @property
    def pid_files(self) -> tuple[Path, Path]:
        """Prometheus' and Alertmanager's pid files."""
        return self.home / "prometheus.pid", self.home / "alertmanager.pid"

    def running(self) -> bool:
        """Whether both processes recorded in the pid files are alive."""
        return all(live_pid(pid) is not None for pid in self.pid_files)

    def start(
        self,
        settings: Settings,
        *,
        api_key: str,
        worker_targets: list[str],
        api_targets: list[str],
        receivers: Receivers,
        scrape_interval_s: float = 15.0,
        group_wait_s: float = 30.0,
        group_interval_s: float = 300.0,
    ) -> None:
        """Write the configurations (rules from `settings`) and start both; returns once both
        answer their readiness checks."""
        prometheus, alertmanager = binaries()
        self.home.mkdir(parents=True, exist_ok=True)
        key_file = self.home / "api-key"
        key_file.write_text(api_key)
        key_file.chmod(0o600)
        rules = self.home / "clout.rules.yml"
        rules.write_text(rules_yaml(settings))
        prom_config = self.home / "prometheus.yml"
        prom_config.write_text(
            prometheus_config(
                worker_targets=worker_targets,
                api_targets=api_targets,
                api_key_file=key_file,
                rules_file=rules,
                alertmanager=f"{self.host}:{self.alertmanager_port}",
                scrape_interval_s=scrape_interval_s,
            )
        )
        am_config = self.home / "alertmanager.yml"
        am_config.write_text(
            alertmanager_config(
                receivers, group_wait_s=group_wait_s, group_interval_s=group_interval_s
            )
        )
        prom_pid, am_pid = self.pid_files
        if live_pid(am_pid) is None:
            spawn(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={self.home / 'alertmanager-data'}",
                    f"--web.listen-address={self.host}:{self.alertmanager_port}",
                    "--cluster.listen-address=",  # no gossip port: a single loopback instance
                    "--log.level=warn",
                ],
                self.home / "alertmanager.log",
                am_pid,
            )
        if live_pid(prom_pid) is None:
            spawn(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={self.home / 'prometheus-data'}",
                    "--storage.tsdb.retention.time=1d",
                    f"--web.listen-address={self.host}:{self.prometheus_port}",
                    "--log.level=warn",
                ],
                self.home / "prometheus.log",
                prom_pid,
            )
        self._wait_ready(f"{self.alertmanager_url}/-/ready", am_pid, "alertmanager.log")
        self._wait_ready(f"{self.prometheus_url}/-/ready", prom_pid, "prometheus.log")

    def _wait_ready(self, url: str, pid_file: Path, log: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if live_pid(pid_file) is None:
                raise AlertingError(f"{url} exited at start:\n{log_tail(self.home / log)}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AlertingError(f"{url} not ready in {timeout_s:.0f}s:\n{log_tail(self.home / log)}")

    def stop(self) -> None:
        """Stop both (TERM, then KILL), whichever of them runs."""
        for pid_file in self.pid_files:
            pid = live_pid(pid_file)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                if not wait_gone(pid, 15.0):
                    os.kill(pid, signal.SIGKILL)
                    wait_gone(pid, 5.0)
            pid_file.unlink(missing_ok=True)


def stack_alerting(settings: Settings, home: Path) -> AlertingStack:
    """The local stack's Prometheus and Alertmanager (`CLOUT_STACK_ALERTS=on`), files in `home`."""
    return AlertingStack(home, settings.stack_prometheus_port, settings.stack_alertmanager_port)


async def prometheus_key(settings: Settings) -> str:
    """A fresh `ops:read` key named stack-prometheus (replacing the last one) to scrape with."""
    async with ApiKeyStore.from_settings(settings) as store:
        _, key = await store.create("stack-prometheus", [Scope.OPS_READ], 10, 100_000, replace=True)
    return key


def stack_alerting_up(settings: Settings, home: Path) -> str:
    """Start the stack's Prometheus (scraping the worker and the API at their configured ports)
    and Alertmanager unless they run; return how and where."""
    alerting = stack_alerting(settings, home)
    where = f"prometheus {alerting.prometheus_url}, alertmanager {alerting.alertmanager_url}"
    if alerting.running():
        return f"reused: {where}"
    for port in (alerting.prometheus_port, alerting.alertmanager_port):
        with socket.socket() as sock:
            if sock.connect_ex((alerting.host, port)) == 0:
                raise AlertingError(f"{alerting.host}:{port} is taken by something else")
    alerting.start(
        settings,
        api_key=asyncio.run(prometheus_key(settings)),
        worker_targets=[f"127.0.0.1:{settings.worker_metrics_port}"],
        api_targets=[f"{settings.api_host}:{settings.api_port}"],
        receivers=Receivers(),  # no receiver: alerts show in Alertmanager's page
        scrape_interval_s=5.0,
    )
    return f"started: {where}"
