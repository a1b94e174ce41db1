"""docker-compose.yml cannot run here (no Docker engine), so check its wiring statically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.api.auth import check_auth_settings
from app.cli import build_parser
from app.settings import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_services_are_all_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"kafka", "redis", "worker", "api", "api-key", "demo"}
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
