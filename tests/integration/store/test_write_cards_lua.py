"""write_cards.lua and confirm_feed.lua called directly on the real Redis (and the cluster):
the stored fields are whatever named pairs the caller sends, and the score feed's threshold level
is the stored one clamped into the card's band (the hysteresis rule has its one home here)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.thresholds import Crossing, band, crossings, tenths
from app.store.connection import register_lua, run_script
from app.store.keys import RedisKeys

pytestmark = pytest.mark.integration

MARKS = (40.0, 50.0, 60.0, 70.0, 80.0)
FEED = orjson.dumps({"by": "producer-1", "marks": [tenths(m) for m in MARKS]})


class CardScript:
    """write_cards.lua for one user, one card per call, with the arguments spelt out."""

    def __init__(self, redis: Redis, settings: Settings, user_id: str) -> None:
        self.redis = redis
        self.keys = RedisKeys(settings.redis_key_prefix)
        self.user_id = user_id
        self.script = register_lua(redis, "app.store", "write_cards.lua")
        self.at = 1_700_000_000_000
        self.left: list[Any] = []

    async def write(
        self,
        hash_pairs: list[str],
        *,
        feed: bytes = b"null",
        allowed: tuple[int, int] | None = None,
    ) -> list[Any]:
        low, high = allowed if allowed is not None else (0, 0)
        row = [self.user_id, "2026-12-07", "2026-09-08", low, high, '{"t":1}', hash_pairs]
        args: list[str | bytes] = [self.keys.changes, "60", feed, orjson.dumps([row])]
        keys = [
            self.keys.user(self.user_id),
            self.keys.history(self.user_id),
            self.keys.snapshots(self.user_id),
        ]
        (reply,) = await run_script(self.redis, self.script, [(keys, args)])
        applied, self.left = reply
        return list(applied)

    async def score(self, score: float, hysteresis: float = 1.0) -> list[Any]:
        """Write the visible `score` (one ms after the last) with the feed on; the reply entry."""
        self.at += 1
        shown = f"{score:.1f}"
        allowed = band(score, MARKS, hysteresis)
        pairs = ["score", shown, "updated_at", str(self.at), "fence", "0"]
        (entry,) = await self.write(pairs, feed=FEED, allowed=(allowed.low, allowed.high))
        return list(entry)


async def follow(
    script: CardScript, scores: list[float], hysteresis: float = 1.0
) -> list[Crossing]:
    """The crossings the script's levels give for these successive visible scores."""
    seen: list[Crossing] = []
    for score in scores:
        entry = await script.score(score, hysteresis)
        if len(entry) > 1:
            _, _, before, after = entry[:4]
            seen += crossings(int(before), int(after), MARKS)
    return seen


@pytest.fixture
def script(store_redis: Redis, isolated_settings: Settings) -> CardScript:
    return CardScript(store_redis, isolated_settings, "hover")


async def test_the_hash_is_the_named_pairs_sent(script: CardScript, store_redis: Redis) -> None:
    # A field the script has never heard of is stored like any other: adding a card field
    # needs no change to the script.
    pairs = ["score", "57.3", "updated_at", "5", "fence", "2", "influence_note", "new field"]
    assert await script.write(pairs) == [[1]]
    stored = await store_redis.hgetall(script.keys.user("hover"))
    assert stored == dict(zip(pairs[::2], pairs[1::2], strict=True))
    assert await store_redis.hgetall(script.keys.history("hover")) == {"2026-12-07": "57.3"}
    assert await store_redis.hgetall(script.keys.snapshots("hover")) == {"2026-12-07": '{"t":1}'}


async def test_a_lower_fence_or_an_older_card_is_skipped(
    script: CardScript, store_redis: Redis
) -> None:
    assert await script.write(["score", "50.0", "updated_at", "10", "fence", "3"]) == [[1]]
    assert await script.write(["score", "60.0", "updated_at", "20", "fence", "2"]) == []
    assert await script.write(["score", "60.0", "updated_at", "9", "fence", "3"]) == []
    assert await script.write(["score", "60.0", "updated_at", "10", "fence", "3"]) == [[1]]
    assert await script.write(["score", "70.0", "updated_at", "1", "fence", "4"]) == [[1]]
    assert await store_redis.hget(script.keys.user("hover"), "score") == "70.0"


async def test_hovering_at_a_threshold_reports_one_crossing(script: CardScript) -> None:
    assert await follow(script, [39.5, 40.0, 39.9, 40.0, 39.2, 40.1, 39.5]) == [
        Crossing(40.0, "up")
    ]


async def test_falling_below_the_hysteresis_reports_down_then_up_again(
    script: CardScript,
) -> None:
    assert await follow(script, [41.0, 38.9, 40.0]) == [
        Crossing(40.0, "up"),
        Crossing(40.0, "down"),
        Crossing(40.0, "up"),
    ]


async def test_a_jump_over_several_thresholds_reports_each_in_order(script: CardScript) -> None:
    assert await follow(script, [35.0, 72.0, 45.0]) == [
        Crossing(40.0, "up"),
        Crossing(50.0, "up"),
        Crossing(60.0, "up"),
        Crossing(70.0, "up"),
        Crossing(70.0, "down"),
        Crossing(60.0, "down"),
        Crossing(50.0, "down"),
    ]


async def test_without_hysteresis_every_crossing_counts(script: CardScript) -> None:
    assert await follow(script, [40.0, 39.9, 40.0], hysteresis=0.0) == [
        Crossing(40.0, "up"),
        Crossing(40.0, "down"),
        Crossing(40.0, "up"),
    ]


@pytest.mark.parametrize(
    ("start", "level_after"),
    [
        (41.0, 1),  # came from above 40: still above
        (30.0, 0),  # came from below: still below
        (65.0, 1),  # came from the 60s: down past 60 and 50, not past 40
    ],
)
async def test_the_keep_zone_holds_either_side(
    script: CardScript, start: float, level_after: int
) -> None:
    await script.score(start)
    entry = await script.score(39.5)  # within the hysteresis below 40
    assert int(entry[3]) == level_after


async def test_a_score_from_before_the_feed_starts_at_the_thresholds_it_reaches(
    script: CardScript,
) -> None:
    await script.write(["score", "55.0", "updated_at", "1", "fence", "0"])  # no feed yet
    entry = await script.score(56.0)
    assert entry[1:4] == ["55.0", 2, 2]


async def test_a_feed_change_that_crosses_returns_the_card_it_replaced(
    script: CardScript,
) -> None:
    # updated_at, score, raw, components and curve_version of the replaced card, for the
    # driver of the record's crossings; a first score replaces nothing
    components = '{"like":{"twitter":2.0}}'
    first = ["score", "42.0", "updated_at", "1", "fence", "0", "raw", "2.0"]
    first += ["components", components, "curve_version", "3"]
    allowed = band(42.0, MARKS, 1.0)
    (entry,) = await script.write(first, feed=FEED, allowed=(allowed.low, allowed.high))
    assert entry[2:] == [0, 1] + [None] * 5
    entry = await script.score(52.0)
    assert entry[2:] == [1, 2, "1", "42.0", "2.0", components, "3"]


async def test_a_feed_change_without_crossings_leaves_the_replaced_card_out(
    script: CardScript,
) -> None:
    # a record that crosses no threshold has no driver, so nothing is read back for one
    await script.score(52.0)
    entry = await script.score(53.0)
    assert entry[1:] == ["52.0", 2, 2]


async def test_confirming_clears_only_the_producers_latest_mark(
    script: CardScript, store_redis: Redis
) -> None:
    confirm = register_lua(store_redis, "app.store", "confirm_feed.lua")
    user = script.keys.user("hover")
    await script.score(45.0)
    marked_at = str(script.at)
    assert await store_redis.hmget(user, "feed_by", "feed_at") == ["producer-1", marked_at]
    await run_script(store_redis, confirm, [([user], ["producer-2", marked_at])])
    await run_script(store_redis, confirm, [([user], ["producer-1", "1"])])
    assert await store_redis.hmget(user, "feed_by", "feed_at") == ["producer-1", marked_at]
    await run_script(store_redis, confirm, [([user], ["producer-1", marked_at])])
    assert await store_redis.hmget(user, "feed_by", "feed_at") == [None, None]


async def test_a_card_that_leaves_topics_says_which_its_predecessor_listed(
    script: CardScript,
) -> None:
    def about(*topics: str) -> str:
        return orjson.dumps([{"topic": t, "share": 0.5} for t in topics]).decode()

    def card(at: int, *topics: str) -> list[str]:
        return [
            "score",
            "50.0",
            "updated_at",
            str(at),
            "fence",
            "0",
            "influential_about",
            about(*topics),
        ]

    await script.write(card(1, "tea", "coffee"))
    assert script.left == []  # nothing stored before
    await script.write(card(2, "coffee", "tea"))
    assert script.left == []  # the same topics, in another order
    await script.write(card(3, "coffee"))
    assert script.left == [[1, "coffee,tea"]]
    await script.write(card(4))
    assert script.left == [[1, "coffee"]]
    await script.write(card(5))
    assert script.left == []  # influential about nothing before, nothing now
