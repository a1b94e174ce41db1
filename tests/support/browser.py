"""What the browser tests share: Debian's Chromium, the artifacts folder, and the API app served
by uvicorn on a free port (pages need a real HTTP server)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn

from app.api import create_api
from app.core.settings import Settings
from app.devtools.isolation import free_port
from tests.support.waiting import eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def chromium_or_skip() -> Path:
    """Debian's Chromium (scripts/install_browser.sh); missing fails in CI, skips elsewhere.
    Makes the artifacts folder the screenshots go to."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run scripts/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(exist_ok=True)
    return CHROMIUM


@asynccontextmanager
async def served_api(settings: Settings) -> AsyncIterator[str]:
    """The whole API app (keys required) served by uvicorn on a free port; yields its base URL."""
    app = create_api(settings)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # surfaces a start-up failure
        return server.started

    await eventually(started, deadline_s=20, interval_s=0.05, what="uvicorn to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
