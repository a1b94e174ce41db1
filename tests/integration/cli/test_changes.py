"""`clout changes USER --since` as a user runs it: a child process on the real Redis."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from app.core.settings import Settings
from app.scoring.card import ActorContribution
from app.scoring.curve import DEFAULT_CURVE
from app.scoring.model import score_from_raw
from app.store import ScoreWriter
from app.store.keys import utc_day
from tests.support.cards import DAY_MS, make_card, now_ms
from tests.support.cli import clout

pytestmark = pytest.mark.integration


@pytest.fixture
async def scored(writer: ScoreWriter, isolated_settings: Settings) -> int:
    """alice 3 days ago: 2.0 in twitter likes; now: those decayed and 4.0 of reddit mentions."""
    at = now_ms()
    liked = round(2.0 * 2 ** (-3 / 14), 6)
    for raw, components, days_ago in (
        (2.0, {"like": {"twitter": 2.0}}, 3),
        (liked + 4.0, {"like": {"twitter": liked}, "mention": {"reddit": 4.0}}, 0),
    ):
        card = make_card(
            "alice",
            raw=raw,
            updated_at_ms=at - days_ago * DAY_MS,
            components=components,
            top_actors=(ActorContribution("talker", raw),),
        )
        await writer.write([dataclasses.replace(card, score=score_from_raw(raw, DEFAULT_CURVE))])
    return at


async def test_the_table_puts_the_biggest_movers_first(
    isolated_settings: Settings, scored: int
) -> None:
    code, out, err = await clout(isolated_settings, "changes", "alice", "--since", "2d")
    assert (code, err) == (0, "")
    assert "driven by +4.0 raw of new mentions on reddit" in out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith("│") and ("reddit" in line or "twitter" in line)
    ]
    assert "reddit" in rows[0]
    assert "twitter" in rows[1]
    assert "+4.0000" in rows[0]


async def test_json_is_the_apis_body(isolated_settings: Settings, scored: int) -> None:
    code, out, _ = await clout(isolated_settings, "changes", "alice", "--since", "2d", "--json")
    body = orjson.loads(out)
    assert code == 0
    assert (body["user_id"], body["since"]) == ("alice", "2d")
    assert body["from_day"] == utc_day(scored - 3 * DAY_MS).isoformat()
    assert body["new_engagement"] == pytest.approx(4.0, abs=1e-12)
    assert body["decay"] + body["new_engagement"] == pytest.approx(body["raw_change"], abs=1e-9)


async def test_errors_are_one_readable_line(isolated_settings: Settings, scored: int) -> None:
    code, _, err = await clout(isolated_settings, "changes", "ghost")
    assert (code, err.strip()) == (1, "no score for user 'ghost'")
    code, _, err = await clout(isolated_settings, "changes", "alice", "--since", "2000-01-01")
    assert code == 1
    assert "no daily snapshot of 'alice' to start '2000-01-01' from" in err
    code, _, err = await clout(isolated_settings, "changes", "alice", "--since", "soon")
    assert code == 2
    assert "is not a day in the history" in err
