"""API keys on the real Redis: 401 without a usable key, 403 without the scope, 429 over the
limits, headers on every admitted answer, revocation seen at once, and CLOUT_API_AUTH=off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.security.access import Scope, mint_key, parse_key
from app.store.api_keys import ApiKeyStore
from tests.support.api import issue_key, serve

pytestmark = pytest.mark.integration

V1 = ("/v1/scores/alice", "/v1/scores?ids=a,b", "/v1/leaderboard", "/v1/scores/a/explain")
OPS_DATA = ("/ops/lag", "/metrics")


@pytest.fixture
async def anonymous(
    isolated_settings: Settings, store_redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The app called without a default key (`store_redis` drops the test's prefix after)."""
    async with serve(isolated_settings) as http:
        yield http


async def test_no_key_malformed_or_unknown_is_401_saying_why(
    anonymous: httpx.AsyncClient, api_key: str
) -> None:
    issued = parse_key(api_key)
    assert issued is not None
    wrong_secret = f"clout_{issued.key_id}_{mint_key()[0].secret}"
    cases = {
        None: "an API key is required",
        "not-a-key": "malformed API key",
        mint_key()[1]: "unknown API key",  # well formed, never issued
        wrong_secret: "unknown API key",  # a real key id with another secret
    }
    for key, why in cases.items():
        headers = {} if key is None else {"X-API-Key": key}
        for path in (*V1, *OPS_DATA):
            response = await anonymous.get(path, headers=headers)
            assert response.status_code == 401, (path, key)
            assert response.json()["detail"].startswith(why), (path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "X-RateLimit-Limit" not in response.headers


async def test_health_readiness_and_the_page_shell_are_open(anonymous: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/ops", "/ops/assets/ops.js", "/openapi.json"):
        assert (await anonymous.get(path)).status_code == 200, path


async def test_each_scope_opens_its_own_routes_only(
    anonymous: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    scores_key = await issue_key(isolated_settings, "svc", (Scope.SCORES_READ,))
    ops_key = await issue_key(isolated_settings, "prometheus", (Scope.OPS_READ,))
    for path in V1:
        ok = await anonymous.get(path, headers={"X-API-Key": scores_key})
        assert ok.status_code in (200, 404), path  # 404: nobody has a score here
        refused = await anonymous.get(path, headers={"X-API-Key": ops_key})
        assert refused.status_code == 403, path
        assert refused.json() == {
            "detail": "this API key lacks the 'scores:read' scope (it has: ops:read)"
        }
    for path in OPS_DATA:
        bearer = {"Authorization": f"Bearer {ops_key}"}  # how Prometheus sends it
        assert (await anonymous.get(path, headers=bearer)).status_code == 200, path
        refused = await anonymous.get(path, headers={"Authorization": f"Bearer {scores_key}"})
        assert refused.status_code == 403, path
        assert "lacks the 'ops:read' scope" in refused.json()["detail"]


async def test_admitted_answers_carry_rate_limit_headers(
    anonymous: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    key = await issue_key(isolated_settings, "svc", tuple(Scope), rate_per_s=50, daily=1000)
    for n, path in enumerate(("/v1/leaderboard", "/v1/scores/ghost", "/ops/lag", "/metrics")):
        response = await anonymous.get(path, headers={"X-API-Key": key})
        assert response.status_code in (200, 404), path
        assert response.headers["X-RateLimit-Limit"] == "50"
        # the bucket refills at 50/s between requests, so at least this many are left
        assert int(response.headers["X-RateLimit-Remaining"]) >= 49 - n
        assert 0 <= int(response.headers["X-RateLimit-Reset"]) <= 1
        assert "Retry-After" not in response.headers


async def test_a_burst_beyond_a_10_per_s_key_is_429(
    anonymous: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    """A full bucket admits 10, and one more per 100 ms the burst lasts: counted against the
    burst's own duration, so a slow machine cannot turn a refill into a failure."""
    key = await issue_key(isolated_settings, "klout-like", (Scope.SCORES_READ,), rate_per_s=10)
    headers = {"X-API-Key": key}
    # Warm the app's connection pool (a refused key costs no token).
    await anonymous.get("/v1/leaderboard", headers={"X-API-Key": key.replace(key[6:18], "0" * 12)})
    started = time.monotonic()
    responses = await asyncio.gather(
        *(anonymous.get("/v1/leaderboard", headers=headers) for _ in range(20))
    )
    elapsed = time.monotonic() - started
    assert {r.status_code for r in responses} <= {200, 429}
    admitted = sum(r.status_code == 200 for r in responses)
    assert 10 <= admitted <= 10 + int(elapsed * 10), (admitted, elapsed)
    refused = [r for r in responses if r.status_code == 429]
    assert refused, f"20 requests in {elapsed:.2f} s were all admitted"
    assert refused[0].json() == {"detail": "rate limit of 10 requests/s exceeded"}
    assert refused[0].headers["Retry-After"] == "1"
    assert refused[0].headers["X-RateLimit-Limit"] == "10"
    assert refused[0].headers["X-RateLimit-Remaining"] == "0"
    assert refused[0].headers["X-RateLimit-Reset"] == "1"
    await asyncio.sleep(float(refused[0].headers["Retry-After"]))
    assert (await anonymous.get("/v1/leaderboard", headers=headers)).status_code == 200


async def test_the_daily_quota_is_429_until_midnight_utc(
    anonymous: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    key = await issue_key(isolated_settings, "tiny", (Scope.SCORES_READ,), daily=3)
    headers = {"X-API-Key": key}
    remaining = []
    for _ in range(3):
        response = await anonymous.get("/v1/leaderboard", headers=headers)
        assert response.status_code == 200
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]  # the daily quota is the closer limit: it is reported
    refused = await anonymous.get("/v1/leaderboard", headers=headers)
    assert refused.status_code == 429
    assert refused.json() == {"detail": "daily quota of 3 requests used up"}
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Reset"] == refused.headers["Retry-After"]


async def test_a_refusal_replaces_whatever_the_route_answered(
    anonymous: httpx.AsyncClient, isolated_settings: Settings
) -> None:
    # The limits are charged while the route runs (app/api/auth.py); what the route produced,
    # data or an error, is never sent for a refused request.
    key = await issue_key(isolated_settings, "one-a-day", (Scope.SCORES_READ,), daily=1)
    headers = {"X-API-Key": key}
    admitted = await anonymous.get("/v1/scores/ghost", headers=headers)
    assert admitted.status_code == 404
    assert admitted.headers["X-RateLimit-Remaining"] == "0"
    for path in ("/v1/scores/ghost", "/v1/leaderboard", "/v1/scores?ids=,"):
        refused = await anonymous.get(path, headers=headers)
        assert refused.status_code == 429, path
        assert refused.json() == {"detail": "daily quota of 1 requests used up"}, path


async def test_a_revoked_key_is_refused_on_the_next_request(
    anonymous: httpx.AsyncClient, isolated_settings: Settings, store_redis: Redis
) -> None:
    key = await issue_key(isolated_settings, "leaked")
    headers = {"X-API-Key": key}
    assert (await anonymous.get("/v1/leaderboard", headers=headers)).status_code == 200
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    assert await store.revoke("leaked")
    refused = await anonymous.get("/v1/leaderboard", headers=headers)  # the record is cached
    assert refused.status_code == 401
    assert refused.json() == {"detail": "this API key was revoked"}
    assert not await store.revoke("never-issued")


async def test_auth_off_on_loopback_needs_no_key(isolated_settings: Settings) -> None:
    settings = isolated_settings.model_copy(update={"api_auth": False, "api_host": "127.0.0.1"})
    async with serve(settings) as http:
        response = await http.get("/v1/leaderboard")
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        assert (await http.get("/metrics")).status_code == 200
