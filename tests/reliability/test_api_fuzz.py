"""API fuzzing: property-based requests generated from the OpenAPI schema (schemathesis).

The real `clout api` process serves a Redis prefix holding real cards; schemathesis sends it
requests that fit the schema and requests that do not, with an API key holding every scope (and
no practical rate limit), so every request reaches the route it aims at. No answer may be a
server error, and no answer may be unbounded in size. `/ops/stream` is left out: it is a
Server-Sent Events stream that by design never ends (its events are bounded snapshots, checked
through `/ops/lag`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.api import create_api
from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import DEFAULT_CURVE, score_card
from app.scoring.signals import UserSignals, apply_event
from app.store.cleanup import delete_prefix
from app.store.connection import redis_from_settings
from app.store.writer import ScoreWriter
from tests.support.api import api_process, issue_key

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

MAX_RESPONSE_BYTES = 1 << 20
"""The largest answer allowed (a leaderboard page at its maximum size is far below this)."""

schema = schemathesis.openapi.from_dict(create_api(Settings()).openapi()).exclude(
    path="/ops/stream"
)


async def _seed(settings: Settings, users: int) -> None:
    """Real cards for `users` users (so lookups, pages and explanations have data)."""
    params = settings.model_params()
    now = int(time.time() * 1000)
    cards = []
    for n in range(users):
        state: UserSignals | None = None
        for k in range(n % 7 + 1):
            event = EngagementEvent(
                event_id=f"seed-{n}-{k}",
                kind=(Kind.LIKE, Kind.SHARE, Kind.MENTION)[k % 3],
                network=("twitter", "tiktok")[k % 2],
                actor_id=f"fan-{k}",
                target_id=f"user-{n}",
                post_id=None,
                ts_ms=now - 3_600_000 * k,
            )
            state = apply_event(state, event, 40.0 + k, params)
        assert state is not None
        cards.append(score_card(f"user-{n}", state, now, params, DEFAULT_CURVE))
    redis = redis_from_settings(settings)
    try:
        await ScoreWriter(redis, settings.redis_key_prefix).write(cards)
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def api_url(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running `clout api` over a seeded prefix: its base URL and an API key for it."""
    import asyncio

    api_settings = isolated(stack)
    asyncio.run(_seed(api_settings, 40))
    key = asyncio.run(issue_key(api_settings, "fuzz"))
    log_path: Path = tmp_path_factory.mktemp("api") / "api.log"
    try:
        with api_process(api_settings, log_path) as base:
            yield base, key
        assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]
    finally:
        asyncio.run(_cleanup(api_settings))


async def _cleanup(settings: Settings) -> None:
    redis = redis_from_settings(settings)
    try:
        await delete_prefix(redis, settings.redis_key_prefix)
    finally:
        await redis.aclose()


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_or_an_unbounded_answer(
    case: schemathesis.Case, api_url: tuple[str, str]
) -> None:
    base, key = api_url
    response = case.call(base_url=base, headers={"X-API-Key": key}, timeout=15)
    assert response.status_code not in (401, 403, 429), f"not authenticated: {response.text}"
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    assert len(response.content) <= MAX_RESPONSE_BYTES
