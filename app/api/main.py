"""The FastAPI application: one ScoreClient per app, opened and closed by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from app.api.routes import curve, health, leaderboard, scores
from app.ops.web import install_ops
from app.settings import Settings
from app.store import CorruptRecord, ScoreClient, StoreError


def _version() -> str:
    try:
        return version("clout")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(settings: Settings) -> FastAPI:
    """The read-only HTTP API over the score store (OpenAPI docs at /docs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = ScoreClient.from_settings(settings)
        app.state.score_client = client
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="Clout API",
        summary="Real-time social influence scores (read-only).",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(scores.router)
    app.include_router(leaderboard.router)
    app.include_router(curve.router)
    app.include_router(health.router)
    install_ops(app, settings)  # the ops dashboard, /ops/lag and /metrics live on this process

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        """Redis failing is the server's problem but a transient one: 503, so clients retry."""
        return JSONResponse(
            {"detail": f"score store unavailable: {type(exc).__name__}"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    @app.exception_handler(CorruptRecord)
    async def corrupt_record(request: Request, exc: CorruptRecord) -> JSONResponse:
        return JSONResponse(
            {"detail": "stored score is malformed"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    return app
