"""What API keys cost a lookup: `GET /v1/scores/{id}` at concurrency 1 on two `clout api`
processes over the same Redis, one requiring a key (check + token bucket + daily quota, one
script call) and one with `CLOUT_API_AUTH=off`, taking turns of `TURN` lookups so machine drift
hits both alike. Issue 17's target: the key costs at most 1 ms at p99.

Kept apart from bench/phases.py (the runner calls `measure` once after the lookup phase, and the
report adds `readme_row`), so the two can change independently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from app.core.settings import Settings
from app.devtools.isolation import free_port
from app.security.access import MAX_DAILY, MAX_RATE_PER_S, Scope
from app.store.api_keys import ApiKeyStore
from bench.phases import ApiProcess, Lookup, timed_lookups
from bench.stats import summarize

TARGET_P99_COST_US = 1000.0
KEY_NAME = "bench"
TURN = 50


async def measure(
    settings: Settings, users: Sequence[str], workdir: Path, *, count: int
) -> dict[str, Any]:
    """p50/p99 of keyed and keyless lookups of `users` (`count` each), and the key's p99 cost."""
    async with ApiKeyStore.from_settings(settings) as store:
        # no practical limit: the figure is the check's cost, not the limit's refusals
        _, key = await store.create(
            KEY_NAME, [Scope.SCORES_READ], MAX_RATE_PER_S, MAX_DAILY, replace=True
        )
    for name in ("with-key", "without-key"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    keyed = ApiProcess(settings, free_port(), workdir / "with-key")
    keyless = ApiProcess(
        settings.model_copy(update={"api_auth": False, "api_host": "127.0.0.1"}),
        free_port(),
        workdir / "without-key",
    )
    sessions: list[aiohttp.ClientSession] = []
    try:
        await keyed.start()
        await keyless.start()
        with_key = keyed.session(headers={"X-API-Key": key})
        without_key = keyless.session()
        sessions = [with_key, without_key]
        calls = {"with_key": _getter(with_key), "without_key": _getter(without_key)}
        for call in calls.values():
            await timed_lookups(call, users, 1, min(200, count), 0)  # warm-up, not recorded
        samples: dict[str, list[float]] = {name: [] for name in calls}
        # Turns of TURN lookups each, the two kinds alternating (and which goes first): drift on
        # the shared machine, seconds long, hits both alike, while each turn keeps its process
        # warm (alternating single requests measured both about 15% slower, waking each in turn).
        names = list(calls)
        for turn, start in enumerate(range(0, count, TURN)):
            for name in names if turn % 2 else reversed(names):
                samples[name] += await timed_lookups(
                    calls[name], users, 1, min(TURN, count - start), start
                )
    finally:
        for session in sessions:
            await session.close()
        keyed.stop()
        keyless.stop()
    figures = {name: summarize(v, scale=1e6, digits=0) for name, v in samples.items()}
    cost = figures["with_key"]["p99"] - figures["without_key"]["p99"]
    return {
        "concurrency": 1,
        **figures,
        "p99_cost_us": cost,
        "p50_cost_us": figures["with_key"]["p50"] - figures["without_key"]["p50"],
        "target_p99_cost_us": TARGET_P99_COST_US,
        "met": cost <= TARGET_P99_COST_US,
    }


def _getter(session: aiohttp.ClientSession) -> Lookup:
    async def get(user: str) -> object:
        async with session.get(f"/v1/scores/{quote(user, safe='')}") as response:
            response.raise_for_status()
            return await response.read()

    return get


def readme_row(results: dict[str, Any]) -> list[str]:
    """The README table row for these figures (none in results from before this phase)."""
    auth = results.get("http_auth")
    if not auth:
        return []
    with_key, without_key = auth["with_key"], auth["without_key"]
    verdict = "met" if auth["met"] else "**missed**"
    return [
        f"| HTTP `GET /v1/scores/{{id}}` with an API key (check, token bucket and daily quota), "
        f"concurrency 1 | p50 {with_key['p50']:,.0f} µs, p99 {with_key['p99']:,.0f} µs | "
        f"same lookups, `CLOUT_API_AUTH=off`: p50 {without_key['p50']:,.0f} µs, p99 "
        f"{without_key['p99']:,.0f} µs: the key costs **{auth['p99_cost_us']:,.0f} µs** at p99 | "
        f"≤ {TARGET_P99_COST_US:,.0f} µs | {verdict} |"
    ]
