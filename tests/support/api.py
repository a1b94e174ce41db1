"""The API for tests: the app in-process (`serve`), the real `clout api` as a subprocess for
tests that need a served HTTP API, and the API keys tests call them with."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx

from app.api.main import create_api
from app.core.settings import Settings
from app.devtools.isolation import free_port
from app.devtools.worker_process import settings_env
from app.security.access import MAX_DAILY, MAX_RATE_PER_S, Scope
from app.security.tls import api_client_tls, client_ssl_context
from app.store.api_keys import ApiKeyStore

ALL_SCOPES = tuple(Scope)


async def issue_key(
    settings: Settings,
    name: str = "test",
    scopes: tuple[Scope, ...] = ALL_SCOPES,
    *,
    rate_per_s: int = MAX_RATE_PER_S,
    daily: int = MAX_DAILY,
) -> str:
    """A new API key under `settings`' prefix (every scope and no practical limit by default);
    the test's prefix clean-up removes it."""
    async with ApiKeyStore.from_settings(settings) as store:
        _, key = await store.create(name, scopes, rate_per_s, daily)
    return key


def issue_key_sync(settings: Settings, name: str = "test") -> str:
    """`issue_key` for synchronous tests."""
    return asyncio.run(issue_key(settings, name))


@contextmanager
def api_process(settings: Settings, log_path: Path) -> Iterator[str]:
    """`clout api` with `settings` (credentials in its environment) on a free port; yields its
    base URL (https:// with `api_ssl_certfile`, trusting `api_ssl_cafile`) once /healthz
    answers, and checks it is still alive when the block ends."""
    log_path.write_bytes(b"")
    proc, base = _start_api(settings, log_path)
    try:
        yield base
        assert proc.poll() is None, f"the API died:\n{log_path.read_text()[-3000:]}"
    finally:
        proc.terminate()
        proc.wait(15)


def _start_api(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the API and wait for /healthz; a port another process took between choosing and
    binding it (the machine is shared) is replaced by a new one."""
    for _ in range(5):
        port = free_port()
        env = {**os.environ, **settings_env(settings.model_copy(update={"api_port": port}))}
        logged = log_path.stat().st_size
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        scheme = "https" if settings.api_ssl_certfile else "http"
        base = f"{scheme}://127.0.0.1:{port}"
        verify = client_ssl_context(api_client_tls(settings)) if scheme == "https" else True
        deadline = time.monotonic() + 30
        while proc.poll() is None:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1, verify=verify)
                answered = health.status_code == 200
            except httpx.HTTPError:
                answered = False
            if answered and f"running on {base}".encode() in _since(log_path, logged):
                return proc, base  # ours, not whoever else may listen on that port
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        if b"address already in use" not in _since(log_path, logged):
            raise AssertionError(log_path.read_text())
    raise AssertionError(f"no free port for the API after 5 tries:\n{log_path.read_text()}")


def _since(log_path: Path, offset: int) -> bytes:
    with log_path.open("rb") as log:
        log.seek(offset)
        return log.read()


@asynccontextmanager
async def serve(settings: Settings, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `create_api(settings)`, inside the app's lifespan (as uvicorn runs it),
    sending `key` as X-API-Key on every request."""
    app = create_api(settings)
    headers = {} if key is None else {"X-API-Key": key}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://clout.test", headers=headers
        ) as http:
            yield http
