""" "Why did my score change?" through the real pipeline, over days, with a refit in between.

One user, maya, is driven through four days by the real `clout worker` (Kafka -> worker ->
Redis), its clock shifted with `CLOUT_WORKER_CLOCK_OFFSET_S` so days pass in minutes:

    day -10   engagement (likes, shares, a mention)         -> snapshot A
    day -3    silence: the decay sweep re-scores her         -> snapshot B
    day -1    new engagement, then `clout curve fit --now`   -> snapshot C (on curve 1)
    day  0    silence again: the sweep re-scores her         -> the current card

The API's attribution of each window (`GET /v1/scores/maya/changes`) must match what this test
computes from the events it sent with the scoring model (app/scoring): per kind and network, the
decay of what was there and the new engagement, to the cards' 6-decimal precision; the window
that spans the refit must carry the refit's points, and the silent ones no new engagement.
Then her page, /u/maya, in a real Chromium must show a chart point per history day and the
API's attribution rows; a screenshot is saved to test-artifacts/user-page.png.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.api import create_api
from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.scoring.curve import Curve
from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR
from app.scoring.events import EngagementEvent, Kind
from app.scoring.params import ModelParams
from app.scoring.signals import UserSignals, apply_event
from app.store import ScoreClient, redis_from_settings
from app.store.cleanup import delete_prefix
from app.store.keys import utc_day
from tests.support.api import issue_key
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_or_skip, served_api
from tests.support.cli import clout
from tests.support.kafka import produce
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = pytest.mark.e2e

PARAMS = ModelParams()
USER = "maya"
# Other users, so the refit has a population to fit (their actors never score anyone else).
OTHERS = [f"p{i}" for i in range(8)]
PRECISION = 1e-6
"""Cards round each component to 6 decimals: a cell of the split is exact to this."""


@dataclass(frozen=True)
class Sent:
    """An event as sent to Kafka, and as the model folds it."""

    kind: Kind
    wire: dict[str, Any]

    def model(self) -> EngagementEvent:
        w = self.wire
        return EngagementEvent(
            w["event_id"], self.kind, w["network"], w["actor_id"], w["target_id"], None, w["ts"]
        )


def events(start_ms: int, target: str, plan: Sequence[tuple[Kind, str, str]]) -> list[Sent]:
    """`plan` as events on `target`, twelve hours apart from `start_ms` (ids unique per run),
    in the order the worker applies them: `send` sends one kind after the other."""
    kinds = list(Kind)
    made = [
        Sent(
            kind,
            {
                "event_id": f"{target}-{start_ms}-{i}",
                "network": network,
                "actor_id": actor,
                "target_id": target,
                "post_id": None,
                "ts": start_ms + i * 12 * MS_PER_HOUR,
            },
        )
        for i, (kind, network, actor) in enumerate(plan)
    ]
    return sorted(made, key=lambda sent: kinds.index(sent.kind))


async def send(settings: Settings, batch: Sequence[Sent], workers: list[WorkerProcess]) -> None:
    """Send one kind at a time, each consumed before the next: the worker then applies the
    events in the order the model folds them (damping depends on the order)."""
    for kind in Kind:
        mine = [s for s in batch if s.kind == kind]
        if not mine:
            continue
        topic = getattr(settings, f"topic_{kind.value}s")
        messages = [(s.wire["target_id"].encode(), orjson.dumps(s.wire)) for s in mine]
        await produce(settings, topic, messages)
        await wait_caught_up(
            settings, [*settings.input_topics, settings.topic_rekeyed], alive=workers
        )


def fold(sent: Sequence[Sent]) -> UserSignals:
    """maya's state after `sent`, as the model folds it (her actors never have a score)."""
    state: UserSignals | None = None
    for item in sent:
        if item.wire["target_id"] == USER:
            state = apply_event(state, item.model(), None, PARAMS)
    assert state is not None
    return state


def expected_split(
    before: Sequence[Sent], during: Sequence[Sent], t0: int, t1: int
) -> dict[tuple[str, str], tuple[float, float]]:
    """(kind, network) -> (decay, new engagement) from the events alone: what was there at `t0`
    decayed to `t1`, and what the window's events are worth at `t1`."""
    pre, everything = fold(before), fold([*before, *during])
    at_t0 = pre.components_at(t0, PARAMS)
    pre_t1 = pre.components_at(t1, PARAMS)
    all_t1 = everything.components_at(t1, PARAMS)
    return {
        (kind, network): (
            pre_t1[kind].get(network, 0.0) - at_t0[kind].get(network, 0.0),
            value - pre_t1[kind].get(network, 0.0),
        )
        for kind, networks in all_t1.items()
        for network, value in networks.items()
    }


def check_window(
    body: dict[str, Any],
    before: Sequence[Sent],
    during: Sequence[Sent],
) -> None:
    """The API's split of a window against the model's, cell by cell and in total."""
    t0, t1 = body["from_ms"], body["to_ms"]
    expected = expected_split(before, during, t0, t1)
    cells = {(c["kind"], c["network"]): (c["decay"], c["new"]) for c in body["cells"]}
    assert set(cells) == set(expected)
    for cell, (decay, new) in expected.items():
        assert cells[cell][0] == pytest.approx(decay, abs=PRECISION), cell
        assert cells[cell][1] == pytest.approx(new, abs=PRECISION), cell
    tolerance = PRECISION * len(cells)
    assert body["raw_then"] == pytest.approx(fold(before).raw_at(t0, PARAMS), abs=tolerance)
    assert body["raw_now"] == pytest.approx(
        fold([*before, *during]).raw_at(t1, PARAMS), abs=tolerance
    )
    assert body["decay"] == pytest.approx(sum(d for d, _ in expected.values()), abs=tolerance)
    assert body["new_engagement"] == pytest.approx(
        sum(n for _, n in expected.values()), abs=tolerance
    )
    assert body["decay"] + body["new_engagement"] == pytest.approx(body["raw_change"], abs=1e-9)


@pytest.fixture
async def settings(stack: Settings) -> AsyncIterator[Settings]:
    """A deployment of its own: a fast sweep and curve follower."""
    base = isolated(stack, worker_metrics_port=0, sweep_interval_s=0.5)
    settings = base.model_copy(
        update={"curve": base.curve.model_copy(update={"follow_interval_s": 0.5})}
    )
    yield settings
    redis = redis_from_settings(settings)
    try:
        await delete_prefix(redis, settings.redis_key_prefix)
    finally:
        await redis.aclose()


class Days:
    """The worker restarted at a clock `days` before now, on the same state and group."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.worker: WorkerProcess | None = None

    async def start(self, days_ago: int) -> WorkerProcess:
        shifted = self.settings.model_copy(
            update={"worker_clock_offset_s": -days_ago * MS_PER_DAY / 1000}
        )
        self.worker = WorkerProcess(shifted, self.workdir)
        self.worker.start()
        await wait_until_consuming(self.settings, [self.worker])
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


async def card_at(client: ScoreClient, after_ms: int, version: int = 0) -> int:
    """Wait until maya's card was made after `after_ms` on curve `version`; its time."""

    async def made() -> int | None:
        card = await client.explain(USER)
        if card and card.updated_at_ms > after_ms and card.curve_version == version:
            return card.updated_at_ms
        return None

    return await eventually(made, deadline_s=90, what=f"a card after {after_ms}")


async def refit_now(settings: Settings) -> None:
    """`clout curve fit --now` for this small population (min population 1)."""
    curve = settings.curve.model_copy(update={"min_population": 1})
    code, out, err = await clout(
        settings.model_copy(update={"curve": curve}), "curve", "fit", "--now"
    )
    assert code == 0, out + err


async def check_page(
    settings: Settings,
    key: str,
    chromium: Path,
    history: list[dict[str, Any]],
    week: dict[str, Any],
    whole: dict[str, Any],
) -> None:
    """/u/maya shows one point per history day and the API's rows for 7 days and, once the
    first day's point is clicked, for the window from it; a screenshot goes to the artifacts."""
    from playwright.async_api import async_playwright

    def rows(body: dict[str, Any]) -> list[list[str]]:
        return [[c["kind"], c["network"]] for c in body["cells"]]

    shown_rows = """() => [...document.querySelectorAll('#attribution tbody tr')]
        .map(r => [r.dataset.kind, r.dataset.network])"""
    async with served_api(settings) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/u/{USER}")
            await page.wait_for_selector("#login:not([hidden])", timeout=10_000)
            await page.fill("#api-key", key)
            await page.click("#login button[type=submit]")
            await page.wait_for_function(
                """([points, driver]) =>
                    document.querySelectorAll('#chart circle').length === points
                    && document.getElementById('driver').textContent === driver""",
                arg=[len(history), week["driver"]],
                timeout=20_000,
            )
            days = await page.eval_on_selector_all(
                "#chart circle", "cs => cs.map(c => c.dataset.day)"
            )
            assert days == [d["day"] for d in history]
            assert await page.evaluate(shown_rows) == rows(week)
            assert await page.text_content("#score") == f"{week['score_now']:.1f}"

            await page.click(f"#chart circle[data-day='{whole['from_day']}']")
            await page.wait_for_function(
                "(driver) => document.getElementById('driver').textContent === driver",
                arg=whole["driver"],
                timeout=20_000,
            )
            assert await page.evaluate(shown_rows) == rows(whole)
            assert await page.get_attribute("#chart circle.from", "data-day") == whole["from_day"]
            await page.screenshot(path=str(ARTIFACTS / "user-page.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing fails in CI, skips elsewhere."""
    return chromium_or_skip()


async def test_attribution_of_engagement_silence_and_a_refit(
    settings: Settings, tmp_path: Path, chromium: Path
) -> None:
    real_now = time.time_ns() // 1_000_000
    day_a, day_c = real_now - 10 * MS_PER_DAY, real_now - MS_PER_DAY
    engaged = events(
        day_a - 5 * MS_PER_DAY,
        USER,
        [
            (Kind.LIKE, "twitter", "a1"),
            (Kind.SHARE, "instagram", "a2"),
            (Kind.LIKE, "twitter", "a3"),
            (Kind.MENTION, "reddit", "a4"),
            (Kind.LIKE, "twitter", "a1"),  # a repeat: damped
            (Kind.SHARE, "instagram", "a5"),
        ],
    )
    population = [
        sent
        for i, other in enumerate(OTHERS)
        for sent in events(
            day_a - 4 * MS_PER_DAY,
            other,
            [(Kind.LIKE, "twitter", f"q{i}-{j}") for j in range(i + 1)],
        )
    ]
    later = events(
        day_c - 2 * MS_PER_DAY,
        USER,
        [
            (Kind.SHARE, "instagram", "a2"),  # a returning sharer
            (Kind.MENTION, "tiktok", "a6"),  # a new network
            (Kind.LIKE, "twitter", "a7"),
        ],
    )
    days = Days(settings, tmp_path)
    key = await issue_key(settings)
    api = create_api(settings)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api),
            base_url="http://clout.test",
            headers={"X-API-Key": key},
        ) as http,
        ScoreClient.from_settings(settings) as client,
    ):

        async def changes(since: str) -> dict[str, Any]:
            response = await http.get(f"/v1/scores/{USER}/changes", params={"since": since})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        try:
            # day -10: engagement
            worker = await days.start(10)
            await send(settings, [*engaged, *population], [worker])
            at_a = await card_at(client, day_a - MS_PER_HOUR)
            days.stop()

            # day -3: silence; the sweep re-scores her
            await days.start(3)
            at_b = await card_at(client, real_now - 3 * MS_PER_DAY - MS_PER_HOUR)
            days.stop()
            quiet = await changes(utc_day(at_a).isoformat())
            assert (quiet["from_ms"], quiet["to_ms"]) == (at_a, at_b)
            check_window(quiet, engaged, [])
            assert quiet["new_engagement"] == 0.0
            assert quiet["refit_points"] == 0.0
            assert quiet["driver"] == "decay while quiet"

            # day -1: new engagement, then a refit the worker takes up
            worker = await days.start(1)
            await send(settings, later, [worker])
            at_c0 = await card_at(client, day_c - MS_PER_HOUR)
            await refit_now(settings)
            at_c = await card_at(client, at_c0 - 1, version=1)
            days.stop()

            # day 0: silence again
            await days.start(0)
            at_d = await card_at(client, real_now - MS_PER_HOUR, version=1)
            curve: Curve = await client.curves.load()
            assert curve.version == 1

            # from day -10 to now: decay, the new engagement and the refit
            whole = await changes(utc_day(at_a).isoformat())
            assert (whole["from_ms"], whole["to_ms"]) == (at_a, at_d)
            check_window(whole, engaged, later)
            assert whole["new_engagement"] > 0
            assert whole["driver"].startswith("driven by +")
            # from day -3: it spans the refit, whose points are the same raw on both curves
            spanning = await changes(utc_day(at_b).isoformat())
            assert (spanning["curve_version_then"], spanning["curve_version_now"]) == (0, 1)
            check_window(spanning, engaged, later)
            regraded = round(curve.score(spanning["raw_then"]), 1)
            assert spanning["refit_points"] == round(regraded - spanning["score_then"], 1)
            assert spanning["refit_points"] != 0.0
            assert spanning["movement_points"] == round(spanning["score_now"] - regraded, 1)
            # the last 24 h: after the refit, nothing new: decay only
            day = await changes("24h")
            assert day["from_ms"] == at_c
            check_window(day, [*engaged, *later], [])
            assert (day["new_engagement"], day["refit_points"]) == (0.0, 0.0)

            # the user page in a real Chromium: the chart's points and the attribution rows
            history = (await http.get(f"/v1/scores/{USER}/history?days=90")).json()["history"]
            await check_page(settings, key, chromium, history, await changes("7d"), whole)
        finally:
            days.stop()
