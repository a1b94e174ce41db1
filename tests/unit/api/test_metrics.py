"""The API's response counter: every answer counted by code, escaped exceptions as 500."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from app.api.main import create_api
from app.api.metrics import ResponseCounter
from app.core.settings import Settings


def counted(registry: CollectorRegistry, code: str, method: str = "GET") -> float:
    value = registry.get_sample_value("clout_api_responses_total", {"code": code, "method": method})
    return 0.0 if value is None else value


def test_answers_are_counted_by_code_and_escaped_errors_as_500() -> None:
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/limited")
    async def limited() -> None:
        raise HTTPException(429, "over the limit")

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_middleware(ResponseCounter, registry=registry)
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            assert client.get("/ok").status_code == 200
        assert client.get("/limited").status_code == 429
        assert client.get("/broken").status_code == 500
        assert client.post("/ok").status_code == 405
    assert counted(registry, "200") == 3
    assert counted(registry, "429") == 1
    assert counted(registry, "500") == 1
    assert counted(registry, "405", "POST") == 1


@pytest.mark.parametrize("path", ["/metrics", "/v1/scores/someone"])
def test_the_api_counts_refused_requests_on_its_metrics(path: str) -> None:
    """The key check's 401 is counted: the counter sits outside it."""
    app = create_api(Settings())
    with TestClient(app) as client:
        assert client.get(path).status_code == 401
    assert counted(app.state.ops_registry, "401") == 1
