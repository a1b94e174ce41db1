"""The FastAPI application: one Redis client per app, opened and closed by the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from app.api.auth import (
    KeyGuard,
    OpsReader,
    RateLimitHeaders,
    ScoresReader,
    check_auth_settings,
    check_every_route_guarded,
)
from app.api.metrics import ResponseCounter
from app.api.routes import changes, curve, health, leaderboard, scores, topics, user_page
from app.core.settings import Settings
from app.ops.web import install_ops
from app.store import (
    STORE_ERRORS,
    CorruptRecord,
    ScoreClient,
    discover_topology,
    redis_from_settings,
)
from app.store.api_keys import ApiKeyStore

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("clout")
    except PackageNotFoundError:
        return "0+unknown"


def create_api(settings: Settings) -> FastAPI:
    """The read-only HTTP API over the score store (OpenAPI docs at /docs).

    Every route needs an API key (app/api/auth.py) except /healthz, /readyz and the ops page's
    static files; `CLOUT_API_AUTH=off` (loopback only) turns the checks off.
    """
    check_auth_settings(settings)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # One connection pool for the lookups and the key checks, which overlap in a request.
        redis = redis_from_settings(settings)
        try:
            await discover_topology(redis)
        except STORE_ERRORS as exc:  # the API still starts; /readyz says Redis is unreachable
            log.warning("Redis unreachable at start: %s", exc)
        api.state.score_client = ScoreClient(
            redis,
            settings.redis_key_prefix,
            owns_redis=False,
            leaderboard_shards=settings.leaderboard_shards,
            params=settings.model_params(),
        )
        api.state.key_guard = (
            KeyGuard(ApiKeyStore(redis, settings.redis_key_prefix)) if settings.api_auth else None
        )
        try:
            yield
        finally:
            await redis.aclose()

    api = FastAPI(
        title="Clout API",
        summary="Real-time social influence scores (read-only).",
        version=_version(),
        lifespan=lifespan,
    )
    api.state.settings = settings
    api.add_middleware(RateLimitHeaders)
    # Every /v1 router needs scores:read.
    for v1_router in (
        scores.router,
        changes.router,
        leaderboard.router,
        topics.router,
        curve.router,
    ):
        api.include_router(v1_router, dependencies=[ScoresReader])
    api.include_router(health.router)
    api.include_router(user_page.router)  # static: its data comes from /v1/scores
    # the ops dashboard, /ops/lag and /metrics live on this process; the data needs ops:read
    install_ops(api, settings, dependencies=[OpsReader])
    # outermost, so it counts the 401s and 429s of the key check too (for the ratio alerts)
    api.add_middleware(ResponseCounter, registry=api.state.ops_registry)
    check_every_route_guarded(api)

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """Redis failing is the server's problem but a transient one: 503, so clients retry."""
        return JSONResponse(
            {"detail": f"score store unavailable: {type(exc).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    for error in STORE_ERRORS:
        api.add_exception_handler(error, store_unavailable)

    @api.exception_handler(CorruptRecord)
    async def corrupt_record(request: Request, exc: CorruptRecord) -> JSONResponse:
        return JSONResponse(
            {"detail": "stored score is malformed"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    return api
