"""docker-compose.yml cannot run here (no Docker engine), so check its wiring statically."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.api.auth import check_auth_settings
from app.cli import build_parser
from app.core.settings import Settings
from app.ops.alerts import API_JOB, WORKER_JOB

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_services_are_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"kafka", "redis", "worker", "api", "api-key", "demo"}
    assert set(services) >= {"prometheus", "prometheus-key", "alertmanager", "grafana"}
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["redis"]["image"].startswith("redis:7")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


@pytest.mark.parametrize("service", ["worker", "api", "api-key", "demo"])
def test_clout_commands_and_variables_exist(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    assert spec["command"][0] == "clout"
    env = spec["environment"]
    assert env["CLOUT_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["CLOUT_REDIS_URL"].startswith("redis://redis:")
    fields = Settings.model_fields
    for name in env:
        assert name.startswith("CLOUT_"), name
        field, _, nested = name.removeprefix("CLOUT_").lower().partition("__")
        assert field in fields, f"{service}: {name} is not a Settings field"
        if nested:
            annotation = fields[field].annotation
            assert annotation is not None
            assert nested in annotation.model_fields, f"{service}: {name} is not a Settings field"


def test_settings_accept_the_compose_values(compose: dict[str, Any]) -> None:
    for service in ("worker", "api", "api-key", "demo"):
        env = compose["services"][service]["environment"]
        values = {k.removeprefix("CLOUT_").lower(): v for k, v in env.items()}
        Settings.model_validate(values)


def test_the_public_api_requires_keys_and_compose_creates_one(compose: dict[str, Any]) -> None:
    """The API binds to 0.0.0.0, so auth stays on; a one-shot service issues a key first."""
    services = compose["services"]
    env = services["api"]["environment"]
    values = {k.removeprefix("CLOUT_").lower(): v for k, v in env.items()}
    settings = Settings.model_validate(values)
    assert settings.api_host == "0.0.0.0"
    assert settings.api_auth is True
    check_auth_settings(settings)  # would raise if auth were off on a public address
    key_service = services["api-key"]
    args = build_parser().parse_args(key_service["command"][1:])
    assert (args.command, args.action, args.replace) == ("keys", "create", True)
    assert sorted(args.scope) == ["ops:read", "scores:read"]
    assert key_service["environment"]["CLOUT_REDIS_URL"] == env["CLOUT_REDIS_URL"]
    assert services["api"]["depends_on"]["api-key"] == {
        "condition": "service_completed_successfully"
    }


def test_alerting_services_run_the_shipped_rules_and_dashboard(compose: dict[str, Any]) -> None:
    """Prometheus, Alertmanager and Grafana read the files in ops/, the same ones the tests use."""
    services = compose["services"]
    prometheus = services["prometheus"]
    assert prometheus["image"] == "prom/prometheus:v2.42.0"  # promtool's version in the tests
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    assert "./ops/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./ops/alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    grafana_volumes = services["grafana"]["volumes"]
    assert "./ops/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_volumes
    assert "./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana_volumes
    for volume in (*prometheus["volumes"], *services["alertmanager"]["volumes"], *grafana_volumes):
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (COMPOSE.parent / source).is_dir(), volume


def test_prometheus_scrapes_the_worker_and_the_api_as_the_rules_expect(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    config = yaml.safe_load((COMPOSE.parent / "ops/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["clout.rules.yml"]  # beside it: ops/prometheus/
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {WORKER_JOB, API_JOB}
    # the worker binds its metrics to 127.0.0.1: Prometheus lives in its network namespace
    assert services["prometheus"]["network_mode"] == "service:worker"
    worker_port = services["worker"]["environment"]["CLOUT_WORKER_METRICS_PORT"]
    assert jobs[WORKER_JOB]["static_configs"][0]["targets"] == [f"127.0.0.1:{worker_port}"]
    api_port = services["api"]["environment"]["CLOUT_API_PORT"]
    assert jobs[API_JOB]["static_configs"][0]["targets"] == [f"api:{api_port}"]
    key_file = jobs[API_JOB]["authorization"]["credentials_file"]
    assert jobs[API_JOB]["authorization"]["type"] == "Bearer"
    # the one-shot key service writes that file into the volume Prometheus reads
    key_service = services["prometheus-key"]
    assert key_service["command"][:2] == ["sh", "-c"]
    create, _, target = key_service["command"][2].partition(">")
    assert target.strip() == key_file
    args = build_parser().parse_args(shlex.split(create)[1:])
    assert (args.command, args.action, args.replace, args.scope) == (
        "keys",
        "create",
        True,
        ["ops:read"],
    )
    key_dir = key_file.rsplit("/", 1)[0]
    assert f"prometheus-key:{key_dir}" in key_service["volumes"]
    assert f"prometheus-key:{key_dir}:ro" in services["prometheus"]["volumes"]
    assert services["prometheus"]["depends_on"]["prometheus-key"] == {
        "condition": "service_completed_successfully"
    }
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]


def test_grafana_reads_the_prometheus_that_shares_the_workers_network(
    compose: dict[str, Any],
) -> None:
    provisioning = COMPOSE.parent / "ops/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://worker:9090"
    dashboards = yaml.safe_load((provisioning / "dashboards/clout.yml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((COMPOSE.parent / "ops/grafana/dashboards/clout.json").read_text())
    uids = {
        target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]
    }
    assert uids == {source["uid"]}
