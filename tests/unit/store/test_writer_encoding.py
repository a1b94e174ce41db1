"""What the writer sends, checked without a server: refusals happen before any I/O."""

from __future__ import annotations

import math

import pytest
from redis.asyncio import Redis

from app.scoring.card import ActorContribution, ScoreCard
from app.store.writer import ScoreWriter
from tests.support.cards import stored_snapshot


def card(**overrides: object) -> ScoreCard:
    fields: dict[str, object] = {
        "user_id": "alice",
        "score": 57.25,
        "raw": 12.5,
        "components": {"like": {"twitter": 12.5}},
        "style": "liked",
        "engagers": 3,
        "top_actors": (ActorContribution("bob", 10.0),),
        "updated_at_ms": 1_700_000_000_000,
        "model_version": "m",
        "curve_version": 0,
    }
    fields.update(overrides)
    return ScoreCard(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"raw": math.nan}, {"raw": math.inf}, {"score": math.nan}, {"score": -math.inf}]
)
async def test_non_finite_cards_are_refused_before_sending(bad: dict[str, float]) -> None:
    # Nothing listens on port 1: the refusal must come before any connection attempt.
    redis = Redis.from_url("redis://127.0.0.1:1/0")
    writer = ScoreWriter(redis, "clout-unit")
    with pytest.raises(ValueError, match="non-finite"):
        await writer.write([card(), card(user_id="bob", **bad)])
    await redis.aclose()


async def test_nothing_to_write_needs_no_server() -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0")
    writer = ScoreWriter(redis, "clout-unit")
    assert await writer.write([]) == 0
    assert await writer.leaderboard.raws([]) == []
    await redis.aclose()


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        ScoreWriter(Redis.from_url("redis://127.0.0.1:1/0"), "clout-unit", chunk_size=0)


def test_a_snapshot_is_at_most_5_kb_whatever_the_card() -> None:
    """The bound stated in docs/redis.md: ids of 128 characters that JSON escapes at 6 bytes
    each, 32-character network slugs on 50 networks per kind, floats of the longest form."""
    longest = 1.2345678901234567e-05
    worst = card(
        raw=longest,
        score=100.0,
        components={
            kind: {f"n{i:02d}".ljust(32, "x"): longest for i in range(50)}
            for kind in ("like", "share", "mention")
        },
        top_actors=tuple(ActorContribution("\x01" * 127 + str(i), longest) for i in range(5)),
        updated_at_ms=9_999_999_999_999,
        curve_version=2**31,
    )
    assert len(stored_snapshot(worst).encode()) <= 5_000
