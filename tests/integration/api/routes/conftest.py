"""A small scored population for the route tests: alice (with a day of history), bob, carol."""

from __future__ import annotations

import pytest

from app.scoring.card import ActorContribution
from app.store import ScoreWriter
from tests.support.cards import DAY_MS, make_card, now_ms


@pytest.fixture
async def board(writer: ScoreWriter) -> int:
    at = now_ms()
    await writer.write([make_card("alice", 30.0, 1.0, at - 3 * DAY_MS)])
    await writer.write(
        [
            make_card(
                "alice",
                score=35.5,
                raw=1.5,
                updated_at_ms=at,
                components={"like": {"twitter": 1.0}, "mention": {"bsky": 0.5}},
                top_actors=(ActorContribution("fan-1", 1.0), ActorContribution("fan-2", 0.25)),
            ),
            make_card("bob", 70.0, 8.0, at),
            make_card("carol", 50.0, 4.0, at),
        ]
    )
    return at
