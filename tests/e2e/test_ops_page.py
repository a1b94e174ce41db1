"""The /ops page in a real headless Chromium, served by uvicorn, fed by the real broker.

A backlog is produced for a consumer group that has never consumed, so every message is lag; the
lag read off the rendered page must equal what was produced. One input topic is left uncreated,
so its row must carry the error while the other rows stay clean. The page is served by the whole
API app, so it first asks for an API key: a wrong one is refused on the page, a key with ops:read
opens it, and a reload keeps it. A screenshot is saved to test-artifacts/ops-page.png.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.api import create_api
from app.core.settings import Settings
from app.devtools.isolation import free_port
from app.kafka.config import aiokafka_kwargs
from app.security.access import Scope, mint_key
from app.store import redis_from_settings
from app.store.cleanup import delete_prefix
from tests.support.api import issue_key
from tests.support.kafka import encode, make_event, produce
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

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
# Messages per (topic suffix, partition); the mentions topic is deliberately never created.
BACKLOG = {("likes", 0): 3, ("likes", 1): 4, ("shares", 0): 5, ("shares", 1): 6}


@pytest.fixture
async def settings(isolated_settings: Settings) -> AsyncIterator[Settings]:
    """Fast polling; likes, shares and dead letters exist with a backlog, mentions does not;
    the score feed's topic holds three records nobody reads."""
    settings = isolated_settings.model_copy(
        update={"ops_poll_interval_s": 0.5, "ops_status_window_s": 2.0, "ops_rate_window_s": 2.0}
    )
    topics = [
        settings.topic_likes,
        settings.topic_shares,
        settings.topic_dead_letters,
        settings.topic_scores,
    ]
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 2, 1) for t in topics])
        for (kind, partition), count in BACKLOG.items():
            topic = settings.topic_likes if kind == "likes" else settings.topic_shares
            events = [encode(make_event("a", f"u{i}")) for i in range(count)]
            await produce(settings, topic, events, partition=partition)
        await produce(settings, settings.topic_dead_letters, [(None, b"not json")], partition=0)
        await produce(settings, settings.topic_scores, [(b"u1", b"{}")] * 3, partition=1)
        yield settings
        await admin.delete_topics(topics)
    finally:
        await admin.close()


@pytest.fixture
async def ops_key(settings: Settings) -> AsyncIterator[str]:
    """A key with only the ops:read scope; the test's Redis prefix is dropped afterwards."""
    yield await issue_key(settings, "dashboard", (Scope.OPS_READ,))
    redis = redis_from_settings(settings)
    try:
        await delete_prefix(redis, settings.redis_key_prefix)
    finally:
        await redis.aclose()


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """The API app (ops routes included, keys required), served by uvicorn on a free port."""
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


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium (scripts/install_browser.sh); missing fails in CI, skips elsewhere."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run scripts/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(exist_ok=True)
    return CHROMIUM


async def test_ops_page_shows_the_backlog_live(
    settings: Settings, base_url: str, ops_key: str, chromium: Path
) -> None:
    from playwright.async_api import async_playwright

    backlog = sum(BACKLOG.values())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base_url}/ops")
            # log in: the page asks for a key, refuses a wrong one, and keeps the right one
            await page.wait_for_selector("#login:not([hidden])", timeout=10_000)
            await page.fill("#api-key", mint_key()[1])
            await page.click("#login button[type=submit]")
            await page.wait_for_function(
                "document.getElementById('login-error').textContent === 'unknown API key'"
            )
            assert await page.is_visible("#login")
            await page.fill("#api-key", ops_key)
            await page.click("#login button[type=submit]")
            await page.wait_for_selector("#login", state="hidden", timeout=10_000)
            await page.reload()
            assert await page.is_hidden("#login"), "the key is kept in the browser"
            # live: the stream is connected and the page shows the full backlog and a verdict
            await page.wait_for_function(
                """(backlog) => document.getElementById('total-lag').textContent === String(backlog)
                    && document.getElementById('live').dataset.live === 'live'
                    && document.querySelectorAll('#partitions tbody tr').length === 5
                    && document.querySelectorAll('#chart-lag path').length > 0
                    && document.getElementById('group-status').textContent === 'ERR'
                    && document.querySelectorAll('#feed tbody tr').length === 1
                    && [...document.querySelectorAll('#partitions tbody tr')]
                        .every(r => !r.querySelector('.note').textContent.startsWith('warming'))""",
                arg=backlog,
                timeout=30_000,
            )
            rows = await page.eval_on_selector_all(
                "#partitions tbody tr",
                """rows => rows.map(r => ({
                    topic: r.dataset.topic,
                    partition: Number(r.dataset.partition),
                    status: r.dataset.rowStatus,
                    lag: r.querySelector('td.lag').textContent,
                    note: r.querySelector('td.note').textContent,
                    error: r.classList.contains('has-error'),
                }))""",
            )
            feed = await page.eval_on_selector_all(
                "#feed tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
            )
            await page.screenshot(path=str(ARTIFACTS / "ops-page.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()

    by_key = {(row["topic"], row["partition"]): row for row in rows}
    shown = {
        (kind, partition): int(by_key[(getattr(settings, f"topic_{kind}"), partition)]["lag"])
        for kind, partition in BACKLOG
    }
    assert shown == BACKLOG
    assert sum(shown.values()) == backlog
    # the missing topic's error sits on its own row; the other rows are clean
    missing = by_key[(settings.topic_mentions, -1)]
    assert missing["error"] is True
    assert missing["note"] == "topic does not exist"
    assert missing["status"] == "ERR"
    clean = [row for key, row in by_key.items() if key[0] != settings.topic_mentions]
    assert [row["error"] for row in clean] == [False] * 4
    assert {row["status"] for row in clean} == {"STOP"}  # backlog, and nobody consuming
    # the score feed's table: its topic, nobody reading it, its three records
    no_lag = "\u2013"  # the page's dash for "no figure"
    assert feed == [[settings.topic_scores, "no consumer", "2", "3", no_lag]]

    # and the page agrees with the JSON it was drawn from
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": ops_key}) as client:
        doc = (await client.get("/ops/lag", params={"history": "false"})).json()
    assert doc["summary"]["total_lag"] == backlog
