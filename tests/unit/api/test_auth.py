"""Key checks without Redis: the auth setting's guard rail, the fail-closed route check, the
OpenAPI security declaration, and the record cache's one-second bound."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI

from app.api import create_api
from app.api.auth import (
    OPEN_PATHS,
    RECORD_TTL_S,
    KeyGuard,
    ScoresReader,
    check_auth_settings,
    check_every_route_guarded,
    is_loopback,
)
from app.core.errors import ConfigurationError
from app.core.settings import Settings
from app.security.access import ApiKeyRecord, Scope, mint_key, secret_digest
from tests.support.cli import clout_process


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("api.example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_auth_off_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigurationError, match="CLOUT_API_AUTH=off is only allowed"):
        check_auth_settings(Settings(api_auth=False, api_host="0.0.0.0"))
    with pytest.raises(ConfigurationError):
        create_api(Settings(api_auth=False, api_host="0.0.0.0"))
    check_auth_settings(Settings(api_auth=False, api_host="127.0.0.1"))
    check_auth_settings(Settings(api_auth=True, api_host="0.0.0.0"))


@pytest.mark.parametrize(("value", "on"), [("on", True), ("off", False), (None, True)])
def test_the_setting_reads_on_and_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool
) -> None:
    if value is None:
        monkeypatch.delenv("CLOUT_API_AUTH", raising=False)
    else:
        monkeypatch.setenv("CLOUT_API_AUTH", value)
    assert Settings().api_auth is on


def test_clout_api_refuses_to_start_with_auth_off_on_a_public_address() -> None:
    done = clout_process(Settings(api_host="0.0.0.0", api_auth=False), "api", timeout_s=60)
    assert done.returncode == 2
    assert "CLOUT_API_AUTH=off is only allowed" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_route_without_a_key_check_fails_the_app_build() -> None:
    app = FastAPI()
    guarded = APIRouter(prefix="/v1/guarded")
    guarded.get("")(lambda: {})
    app.include_router(guarded, dependencies=[ScoresReader])
    check_every_route_guarded(app)
    forgotten = APIRouter(prefix="/v1/curve")
    forgotten.get("")(lambda: {})
    app.include_router(forgotten)
    with pytest.raises(RuntimeError, match="GET /v1/curve has no API key check"):
        check_every_route_guarded(app)


def test_openapi_declares_both_schemes_on_every_guarded_route() -> None:
    schema = create_api(Settings()).openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        security = operations["get"].get("security")
        if path in OPEN_PATHS:
            assert security is None, path
        else:
            assert security == [{"APIKeyHeader": []}, {"HTTPBearer": []}], path
            assert path.startswith(("/v1/", "/ops/", "/metrics")), path


class CountingStore:
    """Stands in for ApiKeyStore.find (a fake in addition to the real-Redis tests)."""

    def __init__(self, record: ApiKeyRecord) -> None:
        self.record = record
        self.finds = 0

    async def find(self, key_id: str) -> ApiKeyRecord | None:
        self.finds += 1
        return self.record if key_id == self.record.key_id else None


async def test_records_are_cached_for_at_most_a_second() -> None:
    parts, _ = mint_key()
    record = ApiKeyRecord(
        parts.key_id, "svc", frozenset({Scope.OPS_READ}), 10, 100, 1, False,
        secret_digest(parts.secret),
    )  # fmt: skip
    store = CountingStore(record)
    now = [100.0]
    guard = KeyGuard(store, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await guard.record(parts.key_id) is record
    now[0] += RECORD_TTL_S * 0.9
    assert await guard.record(parts.key_id) is record
    assert store.finds == 1
    now[0] += RECORD_TTL_S * 0.2
    assert await guard.record(parts.key_id) is record
    assert store.finds == 2
    assert await guard.record("ffffffffffff") is None
    assert await guard.record("ffffffffffff") is None
    assert store.finds == 4, "unknown ids are not cached: a new key works at once"
