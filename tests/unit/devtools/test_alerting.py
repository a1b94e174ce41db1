"""The Prometheus and Alertmanager configurations the live test and the stack run with."""

from __future__ import annotations

import json
from pathlib import Path

from app.devtools.alerting import Receivers, alertmanager_config, prometheus_config
from app.ops.alerts import API_JOB, WORKER_JOB


def test_prometheus_scrapes_both_jobs_the_api_with_the_key_as_bearer() -> None:
    config = json.loads(
        prometheus_config(
            worker_targets=["127.0.0.1:6066"],
            api_targets=["127.0.0.1:8000"],
            api_key_file=Path("/k"),
            rules_file=Path("/r.yml"),
            alertmanager="127.0.0.1:9293",
            scrape_interval_s=1,
        )
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {WORKER_JOB, API_JOB}
    assert jobs[API_JOB]["authorization"] == {"type": "Bearer", "credentials_file": "/k"}
    assert "authorization" not in jobs[WORKER_JOB]
    assert config["global"]["scrape_interval"] == "1s"
    assert config["rule_files"] == ["/r.yml"]


def test_alertmanager_pages_on_critical_tickets_the_rest_and_sends_resolutions() -> None:
    config = json.loads(
        alertmanager_config(
            Receivers("http://h/pager", "http://h/tickets"), group_wait_s=1, group_interval_s=2
        )
    )
    route = config["route"]
    assert route["receiver"] == "tickets"
    assert route["routes"] == [{"receiver": "pager", "matchers": ['severity="critical"']}]
    assert {"consumergroup", "topic", "partition"} <= set(route["group_by"])
    hooks = {r["name"]: r["webhook_configs"][0] for r in config["receivers"]}
    assert hooks["pager"] == {"url": "http://h/pager", "send_resolved": True}
    assert hooks["tickets"]["url"] == "http://h/tickets"
    quiet = json.loads(alertmanager_config(Receivers(), group_wait_s=1, group_interval_s=1))
    assert quiet["receivers"] == [{"name": "pager"}, {"name": "tickets"}]
