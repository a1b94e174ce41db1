"""Score cards for tests, and cleanup of a test's keys (never FLUSHDB: the server is shared)."""

from __future__ import annotations

import time
from typing import Any

import clout_kernel
import orjson

from app.scoring.card import ActorContribution, ScoreCard
from app.scoring.decay import MS_PER_DAY
from app.store.connection import RedisClient
from app.store.leaderboard import Leaderboard

DAY_MS = MS_PER_DAY


def stored_row(card: ScoreCard, fence: int = 0) -> list[Any]:
    """The card as write_cards.lua gets it from the kernel: [user id, day, first kept day, band
    low, band high, snapshot JSON text, [field, value, ...]]."""
    row: list[Any] = orjson.loads(clout_kernel.card_rows([(card, fence, "d", "d0", 0, 0)]))[0]
    return row


def stored_snapshot(card: ScoreCard) -> str:
    """The card's daily snapshot as the writer stores it (JSON text)."""
    snapshot: str = stored_row(card)[5]
    return snapshot


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_card(
    user_id: str,
    score: float = 50.0,
    raw: float = 10.0,
    updated_at_ms: int | None = None,
    *,
    components: dict[str, dict[str, float]] | None = None,
    top_actors: tuple[ActorContribution, ...] | None = None,
    style: str = "liked",
    engagers: int = 2,
) -> ScoreCard:
    """A card as the scorer would make it; components default to all of `raw` in likes."""
    return ScoreCard(
        user_id=user_id,
        score=score,
        raw=raw,
        components=components if components is not None else {"like": {"twitter": raw}},
        style=style,
        engagers=engagers,
        top_actors=top_actors
        if top_actors is not None
        else (ActorContribution("fan-1", raw * 0.6), ActorContribution("fan-2", raw * 0.4)),
        updated_at_ms=now_ms() if updated_at_ms is None else updated_at_ms,
        model_version="test-model",
        curve_version=0,
    )


async def fill_leaderboard(redis: RedisClient, prefix: str, raws: dict[str, float]) -> None:
    """Rank users directly (no score hashes), in the shards the store's defaults use."""
    pipe = redis.pipeline(transaction=False)
    Leaderboard(redis, prefix).queue_set(pipe, raws)
    await pipe.execute()
