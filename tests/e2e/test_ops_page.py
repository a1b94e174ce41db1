"""The /ops page in a real headless Chromium, served by uvicorn, fed by the real broker.

A backlog is produced for a consumer group that has never consumed, so every message is lag; the
lag read off the rendered page must equal what was produced. One input topic is left uncreated,
so its row must carry the error while the other rows stay clean. The page is served by the whole
API app, so it first asks for an API key: a wrong one is refused on the page, a key with ops:read
opens it, and a reload keeps it. A screenshot is saved to test-artifacts/ops-page.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.scoring.card import TopicInfluence
from app.security.access import Scope, mint_key
from app.store import redis_from_settings
from app.store.cleanup import delete_prefix
from tests.support.api import issue_key
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_or_skip, served_api
from tests.support.kafka import encode, make_event, produce
from tests.support.topics import write_topics

pytestmark = pytest.mark.e2e

# Messages per (topic suffix, partition); the mentions topic is deliberately never created.
BACKLOG = {("likes", 0): 3, ("likes", 1): 4, ("shares", 0): 5, ("shares", 1): 6}
TOPICS = ("coffee", "tea", "chess")  # live topics in Redis, for the topics card


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
    """A key with only the ops:read scope, and three live topics in Redis; the test's Redis
    prefix is dropped afterwards."""
    redis = redis_from_settings(settings)
    try:
        about = {
            f"user-{i}": [TopicInfluence(TOPICS[i % 3], 0.5, 1.0 + i, 30.0, "global")]
            for i in range(30)
        }
        await write_topics(redis, settings.redis_key_prefix, about, now_ms=1_000)
        yield await issue_key(settings, "dashboard", (Scope.OPS_READ,))
    finally:
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """The API app (ops routes included, keys required), served by uvicorn on a free port."""
    async with served_api(settings) as url:
        yield url


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing fails in CI, skips elsewhere."""
    return chromium_or_skip()


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
                    && document.getElementById('live-topics').textContent === '3'
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
            topic_memory = await page.text_content("#topic-memory")
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
    # the topics card: three live topics, and their keys' memory as the probe measured it
    redis_doc = doc["pipeline"]["redis"]
    assert (redis_doc["live_topics"], redis_doc["topic_memory_estimated"]) == (3, False)
    assert redis_doc["topic_memory_bytes"] > 0
    assert topic_memory is not None
    assert topic_memory.endswith(" used by topic keys")
    assert not topic_memory.startswith("≈")
