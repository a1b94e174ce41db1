"""The dashboard's HTTP side: the page, its assets, `/ops/lag`, the live stream and `/metrics`.

The API owner calls `install_ops(api, settings)`; it mounts `router` and ties an `OpsMonitor` to
the API's lifespan. Handlers only read the monitor's cached snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.core.settings import Settings
from app.ops.metrics import ops_registry
from app.ops.monitor import ObservationSource, OpsMonitor

__all__ = ["ObservationSource", "OpsMonitor", "install_ops", "page_router", "router"]

router = APIRouter(tags=["ops"])
"""The data routes (`/ops/lag`, `/ops/stream`, `/metrics`): the API guards them with a key."""
page_router = APIRouter(tags=["ops"])
"""The dashboard's static page and assets: no data, open to anyone."""

# How long a quiet live stream waits before re-sending the current snapshot; FastAPI adds its
# own keep-alive comments in between.
STREAM_HEARTBEAT_S = 15.0

_ASSETS = {
    "ops.js": "text/javascript; charset=utf-8",
    "ops.css": "text/css; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
}


def _asset(name: str) -> bytes:
    return resources.files("app.ops").joinpath("static", name).read_bytes()


def _monitor(request: Request) -> OpsMonitor:
    monitor: OpsMonitor | None = getattr(request.app.state, "ops_monitor", None)
    if monitor is None:
        raise HTTPException(503, "the ops monitor is not installed (call install_ops)")
    return monitor


def _registry(request: Request) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(request.app.state, "ops_registry", None)
    if registry is None:
        raise HTTPException(503, "the ops monitor is not installed (call install_ops)")
    return registry


@page_router.get("/ops", response_class=HTMLResponse, summary="Topic-lag dashboard page")
async def ops_page() -> HTMLResponse:
    """The live dashboard (plain HTML, assets served below, no CDN)."""
    return HTMLResponse(_asset("ops.html"))


@page_router.get("/ops/assets/{name}", summary="Dashboard script and style")
async def ops_asset(name: str) -> Response:
    """A bundled static file of the page."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such asset")
    return Response(_asset(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/ops/lag", summary="Lag, status and pipeline health as JSON")
async def ops_lag(request: Request, history: bool = True) -> Response:
    """The cached snapshot; `history=false` leaves out the hour of chart points."""
    doc = _monitor(request).document(history=history)
    return Response(orjson.dumps(doc), media_type="application/json")


@router.get("/ops/stream", response_class=EventSourceResponse, summary="Live snapshots (SSE)")
async def ops_stream(request: Request) -> AsyncIterable[ServerSentEvent]:
    """One `snapshot` event now and one after every poll (the newest chart point included)."""
    monitor = _monitor(request)
    seen = -1
    while True:
        version = monitor.version
        if version != seen:
            seen = version
            payload = orjson.dumps(monitor.document(history=False)).decode()
            yield ServerSentEvent(raw_data=payload, event="snapshot", id=str(version), retry=1000)
        if monitor.stopped:  # a client that goes away cancels this generator
            return
        await monitor.wait_for_update(seen, STREAM_HEARTBEAT_S)


@router.get("/metrics", summary="Prometheus metrics from the cached snapshot")
async def metrics(request: Request) -> Response:
    """Prometheus text format; a scrape never calls Kafka."""
    return Response(generate_latest(_registry(request)), media_type=CONTENT_TYPE_LATEST)


def install_ops(
    api: FastAPI,
    settings: Settings,
    *,
    monitor: OpsMonitor | None = None,
    dependencies: Sequence[Any] = (),
) -> None:
    """Add the ops routes to `api` and run the monitor for its lifetime.

    `dependencies` (e.g. the API's key check) guard the data routes, not the static page.

    The monitor starts before and stops after the API's own lifespan (whatever it is), so
    the first poll is under way when the first request arrives.
    """
    ops = monitor if monitor is not None else OpsMonitor(settings)
    api.state.ops_monitor = ops
    api.state.ops_registry = ops_registry(lambda: ops.snapshot)
    api.include_router(page_router)
    api.include_router(router, dependencies=list(dependencies))
    inner: Callable[[Any], AbstractAsyncContextManager[Any]] = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        await ops.start()
        try:
            async with inner(app_) as state:
                yield state
        finally:
            await ops.stop()

    api.router.lifespan_context = lifespan
