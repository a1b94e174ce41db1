"""/healthz and /readyz, with the real Redis and Kafka up, and with each one unreachable."""

from __future__ import annotations

import httpx
import pytest

import app.api.main
from app.core.settings import Settings
from app.store import redis_from_settings
from app.store.connection import RedisClient
from tests.support.api import serve

pytestmark = pytest.mark.integration

NOTHING_LISTENS = "127.0.0.1:1"


async def test_healthz(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_redis_and_kafka_answer(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"redis": "ok", "kafka": "ok"},
        "failing": [],
    }


@pytest.mark.parametrize(
    ("broken", "failing"),
    [
        ({"kafka_bootstrap": NOTHING_LISTENS}, ["kafka"]),
        ({"redis_url": f"redis://{NOTHING_LISTENS}/0", "redis_cluster_nodes": ""}, ["redis"]),
        (
            {
                "kafka_bootstrap": NOTHING_LISTENS,
                "redis_url": f"redis://{NOTHING_LISTENS}/0",
                "redis_cluster_nodes": "",  # no other seed of the cluster either
            },
            ["redis", "kafka"],
        ),
    ],
)
async def test_not_ready_names_what_is_unreachable(
    isolated_settings: Settings, broken: dict[str, str], failing: list[str]
) -> None:
    """Readiness is open: it needs no key (a key check would need the Redis under test)."""
    settings = isolated_settings.model_copy(update={**broken, "api_readiness_timeout_s": 5.0})
    async with serve(settings) as http:
        response = await http.get("/readyz")
        assert (await http.get("/healthz")).status_code == 200
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["failing"] == failing
    for name in ("redis", "kafka"):
        assert (body["checks"][name] == "ok") == (name not in failing)


async def test_lookups_while_redis_is_down_are_503(
    isolated_settings: Settings, api_key: str
) -> None:
    """The key check cannot reach Redis either: the answer is 503 (retry), never a pass."""
    settings = isolated_settings.model_copy(
        update={"redis_url": f"redis://{NOTHING_LISTENS}/0", "redis_cluster_nodes": ""}
    )
    async with serve(settings, api_key) as http:
        response = await http.get("/v1/scores/alice")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("score store unavailable")


async def test_the_lifespan_opens_one_redis_client_and_closes_it(
    isolated_settings: Settings, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[RedisClient] = []
    closed: list[RedisClient] = []

    def recording_client(settings: Settings) -> RedisClient:
        client = redis_from_settings(settings)
        original = client.aclose

        async def recording_aclose() -> None:
            closed.append(client)
            await original()

        client.aclose = recording_aclose  # type: ignore[method-assign]
        opened.append(client)
        return client

    monkeypatch.setattr(app.api.main, "redis_from_settings", recording_client)
    async with serve(isolated_settings, api_key) as http:
        assert (await http.get("/v1/scores/alice")).status_code == 404
        assert (await http.get("/v1/leaderboard")).status_code == 200
        assert len(opened) == 1, "lookups and key checks share one connection pool"
        assert closed == []
    assert closed == opened
