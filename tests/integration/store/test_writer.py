"""ScoreWriter against the real Redis: the key schema, monotonic writes, history, notifications."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.attribution import Snapshot, snapshot_of
from app.scoring.card import ActorContribution
from app.store import HISTORY_DAYS, DailyScore, RedisKeys, ScoreChange, ScoreClient, ScoreWriter
from app.store.keys import HISTORY_TTL_S, utc_day
from tests.support.cards import DAY_MS, make_card, now_ms

pytestmark = pytest.mark.integration


async def test_a_card_lands_in_every_structure_of_the_schema(
    writer: ScoreWriter, isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    at = now_ms()
    card = make_card(
        "alice",
        score=57.26,
        raw=12.5,
        updated_at_ms=at,
        components={"like": {"twitter": 2.5}, "share": {"twitter": 6.0, "mastodon": 4.0}},
        top_actors=(ActorContribution("bob", 5.5), ActorContribution("carol", 1.25)),
        style="sharer",
        engagers=7,
    )
    before = now_ms()
    assert await writer.write([card]) == 1

    # Checked with an independent raw client (bytes), as any other reader would see it.
    stored = await redis_client.hgetall(keys.user("alice"))
    assert stored == {
        b"score": b"57.3",
        b"raw": b"12.5",
        b"style": b"sharer",
        b"engagers": b"7",
        b"updated_at": str(at).encode(),
        b"model_version": b"test-model",
        b"curve_version": b"0",
        b"fence": b"0",
        b"components": orjson.dumps(card.components),
        b"top_actors": b'[["bob",5.5],["carol",1.25]]',
        b"influential_about": b"[]",
    }
    assert await redis_client.zscore(writer.leaderboard.key_of("alice"), "alice") == 12.5
    day = utc_day(at).isoformat()
    assert await redis_client.hgetall(keys.history("alice")) == {day.encode(): b"57.3"}
    assert 0 < await redis_client.ttl(keys.history("alice")) <= HISTORY_TTL_S
    stats = await redis_client.hgetall(keys.stats)
    assert before <= int(stats[b"last_write_ms"]) <= now_ms()
    assert stats[b"cards_applied"] == b"1"


async def test_an_older_card_never_overwrites_a_newer_one(
    writer: ScoreWriter, client: ScoreClient
) -> None:
    at = now_ms()
    assert await writer.write([make_card("alice", score=60.0, raw=20.0, updated_at_ms=at)]) == 1
    stale = make_card("alice", score=10.0, raw=1.0, updated_at_ms=at - 1)
    assert await writer.write([stale]) == 0

    score = await client.get("alice")
    assert score is not None
    assert (score.score, score.raw, score.updated_at_ms) == (60.0, 20.0, at)
    assert await writer.leaderboard.raws(["alice"]) == [20.0]
    assert [d.score for d in await client.history("alice", 1, now_ms=at)] == [60.0]


async def test_a_card_of_an_older_fence_never_wins_whatever_its_time(
    writer: ScoreWriter, client: ScoreClient, redis_client: aioredis.Redis
) -> None:
    at = now_ms()
    owner = make_card("alice", score=60.0, raw=20.0, updated_at_ms=at)
    assert await writer.write([owner], {"alice": 7}) == 1
    # A paused worker of generation 6 resumes and writes a later card of its older state.
    zombie = make_card("alice", score=10.0, raw=1.0, updated_at_ms=at + 60_000)
    assert await writer.write([zombie], {"alice": 6}) == 0
    assert await writer.write([zombie]) == 0  # no fence: 0, older than any generation
    score = await client.get("alice")
    assert score is not None
    assert (score.score, score.raw, score.updated_at_ms) == (60.0, 20.0, at)
    assert await writer.leaderboard.raws(["alice"]) == [20.0]  # the ranking is fenced as well
    # A newer generation wins even with an earlier clock (another machine's).
    successor = make_card("alice", score=55.0, raw=15.0, updated_at_ms=at - 5_000)
    assert await writer.write([successor], {"alice": 8}) == 1
    # Within one generation, time orders cards as before.
    assert await writer.write([make_card("alice", updated_at_ms=at - 6_000)], {"alice": 8}) == 0
    score = await client.get("alice")
    assert score is not None
    assert (score.score, score.updated_at_ms) == (55.0, at - 5_000)
    stored = await redis_client.hget(writer.keys.user("alice"), "fence")
    assert stored == b"8"


async def test_the_same_card_twice_is_harmless(
    writer: ScoreWriter, client: ScoreClient, isolated_settings: Settings
) -> None:
    card = make_card("alice", score=42.0, raw=7.0)
    async with client.changes() as feed:
        await writer.write([card])
        await writer.write([card])
        # A marker change for another user proves the feed is flowing; alice must appear once.
        await writer.write([make_card("marker", score=1.0, raw=0.1)])
        seen: list[ScoreChange] = []
        while not seen or seen[-1].user_id != "marker":
            seen.append(await asyncio.wait_for(feed.__anext__(), 10))
    assert [c.user_id for c in seen] == ["alice", "marker"]
    score = await client.get("alice")
    assert score is not None
    assert (score.score, score.raw, score.updated_at_ms) == (42.0, 7.0, card.updated_at_ms)
    assert await client.size() == 2
    assert len(await client.history("alice", 1, now_ms=card.updated_at_ms)) == 1


async def test_an_equal_timestamp_overwrites(writer: ScoreWriter, client: ScoreClient) -> None:
    at = now_ms()
    await writer.write([make_card("alice", score=30.0, raw=3.0, updated_at_ms=at)])
    assert await writer.write([make_card("alice", score=31.0, raw=3.5, updated_at_ms=at)]) == 1
    score = await client.get("alice")
    assert score is not None
    assert (score.score, score.raw) == (31.0, 3.5)


async def test_chunks_duplicates_and_stale_cards_in_one_batch(
    store_redis: Redis, isolated_settings: Settings, client: ScoreClient
) -> None:
    writer = ScoreWriter(store_redis, isolated_settings.redis_key_prefix, chunk_size=3)
    at = now_ms()
    await writer.write([make_card("u0", score=90.0, raw=50.0, updated_at_ms=at + 100)])
    cards = [make_card(f"u{i}", score=10.0 + i, raw=float(i), updated_at_ms=at) for i in range(10)]
    cards.append(make_card("u5", score=99.0, raw=99.0, updated_at_ms=at + 1))  # newer duplicate
    cards.append(make_card("u5", score=1.0, raw=0.5, updated_at_ms=at - 1))  # then a stale one
    # u0 and the last u5 card are stale; the newer u5 card wins over the first.
    assert await writer.write(cards) == 10
    top = await client.top(3)
    assert [(e.user_id, e.score) for e in top] == [("u5", 99.0), ("u0", 90.0), ("u9", 19.0)]
    assert await client.size() == 10


async def test_history_keeps_the_last_score_per_day_and_trims_old_days(
    writer: ScoreWriter, isolated_settings: Settings, store_redis: Redis
) -> None:
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    today_ms = now_ms()
    ages = [100, HISTORY_DAYS, HISTORY_DAYS - 1, 30, 1, 0]  # days ago, oldest first
    for age in ages:
        await writer.write(
            [make_card("alice", score=100.0 - age, updated_at_ms=today_ms - age * DAY_MS)]
        )
    await writer.write([make_card("alice", score=77.0, updated_at_ms=today_ms + 1)])  # same day

    # The store's own client decodes responses to str.
    stored = {str(k): str(v) for k, v in (await store_redis.hgetall(keys.history("alice"))).items()}
    today = utc_day(today_ms)
    expected_days = {
        (today - timedelta(days=age)).isoformat() for age in [HISTORY_DAYS - 1, 30, 1, 0]
    }
    assert set(stored) == expected_days
    assert stored[today.isoformat()] == "77.0"
    assert stored[(today - timedelta(days=30)).isoformat()] == "70.0"


async def test_history_window_of_the_client(writer: ScoreWriter, client: ScoreClient) -> None:
    today_ms = now_ms()
    for age in (20, 6, 2, 0):
        await writer.write(
            [make_card("alice", score=50.0 + age, updated_at_ms=today_ms - age * DAY_MS)]
        )
    today = utc_day(today_ms)
    week = await client.history("alice", 7, now_ms=today_ms)
    assert [(d.day, d.score) for d in week] == [
        (today - timedelta(days=6), 56.0),
        (today - timedelta(days=2), 52.0),
        (today, 50.0),
    ]
    assert len(await client.history("alice", HISTORY_DAYS, now_ms=today_ms)) == 4
    assert await client.history("ghost", 7) == []
    two_days_ago = await client.history("alice", 1, now_ms=today_ms - 2 * DAY_MS)
    assert two_days_ago == [DailyScore(today - timedelta(days=2), 52.0)]


async def test_changes_are_published_only_when_the_visible_score_moves(
    writer: ScoreWriter, client: ScoreClient
) -> None:
    at = now_ms()
    async with client.changes() as feed:
        await writer.write([make_card("alice", score=40.0, raw=5.0, updated_at_ms=at)])
        first = await asyncio.wait_for(feed.__anext__(), 10)
        # Raw moves but the one-decimal score does not: no notification.
        await writer.write([make_card("alice", score=40.0, raw=5.01, updated_at_ms=at + 1)])
        await writer.write([make_card("alice", score=41.5, raw=6.0, updated_at_ms=at + 2)])
        second = await asyncio.wait_for(feed.__anext__(), 10)
    assert (first.user_id, first.score, first.previous, first.updated_at_ms) == (
        "alice",
        40.0,
        None,
        at,
    )
    assert (second.score, second.previous, second.updated_at_ms) == (41.5, 40.0, at + 2)


async def test_a_flushed_script_cache_is_recovered(
    writer: ScoreWriter, client: ScoreClient
) -> None:
    # Simulate a server that has never seen the script (restart, failover, SCRIPT FLUSH) without
    # flushing the shared server's cache: point the writer at an unknown SHA.
    writer._script.sha = hashlib.sha1(uuid.uuid4().bytes).hexdigest()  # noqa: SLF001  # Clout's own
    assert await writer.write([make_card("alice", score=33.0)]) == 1
    score = await client.get("alice")
    assert score is not None
    assert score.score == 33.0


async def test_unusual_user_ids_round_trip(writer: ScoreWriter, client: ScoreClient) -> None:
    odd = ["ünïcødé 🎉", "with:colons:and/slashes", 'quote"and\\backslash', "x" * 128]
    assert await writer.write([make_card(u, score=10.0 + i) for i, u in enumerate(odd)]) == 4
    found = await client.get_many(odd)
    assert {u: s.score if s else None for u, s in found.items()} == {
        u: 10.0 + i for i, u in enumerate(odd)
    }
    async with client.changes() as feed:
        await writer.write([make_card(odd[0], score=99.0)])
        change = await asyncio.wait_for(feed.__anext__(), 10)
    assert change.user_id == odd[0]


async def test_a_large_batch_spans_many_chunks(writer: ScoreWriter, client: ScoreClient) -> None:
    at = now_ms()
    cards = [
        make_card(f"bulk-{i}", score=1.0 + i % 99, raw=float(i), updated_at_ms=at)
        for i in range(2000)
    ]
    assert await writer.write(cards) == 2000
    assert await client.size() == 2000
    assert [e.user_id for e in await client.top(2)] == ["bulk-1999", "bulk-1998"]


async def test_each_history_day_keeps_the_snapshot_of_its_last_card(
    writer: ScoreWriter, isolated_settings: Settings, store_redis: Redis
) -> None:
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    today_ms = now_ms()
    for age in (100, HISTORY_DAYS - 1, 1, 0):
        await writer.write(
            [
                make_card(
                    "alice",
                    score=50.0 - age / 10,
                    raw=10.0 - age / 100,
                    updated_at_ms=today_ms - age * DAY_MS,
                )
            ]
        )
    last = make_card("alice", score=77.0, raw=12.0, updated_at_ms=today_ms + 1)
    await writer.write([last])

    stored = {
        str(k): str(v) for k, v in (await store_redis.hgetall(keys.snapshots("alice"))).items()
    }
    history = await store_redis.hgetall(keys.history("alice"))
    assert set(stored) == set(history)  # the same days: written and trimmed together
    today = utc_day(today_ms).isoformat()
    assert Snapshot.from_dict(orjson.loads(stored[today])) == snapshot_of(last)
    yesterday = Snapshot.from_dict(orjson.loads(stored[utc_day(today_ms - DAY_MS).isoformat()]))
    assert (yesterday.score, yesterday.raw) == (49.9, 9.99)
    assert 0 < await store_redis.ttl(keys.snapshots("alice")) <= HISTORY_TTL_S


async def test_a_stale_card_writes_no_snapshot(
    writer: ScoreWriter, isolated_settings: Settings, store_redis: Redis
) -> None:
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    at = now_ms()
    newer = make_card("alice", score=60.0, raw=11.0, updated_at_ms=at)
    await writer.write([newer, make_card("alice", score=40.0, raw=2.0, updated_at_ms=at - 1)])
    stored = await store_redis.hget(keys.snapshots("alice"), utc_day(at).isoformat())
    assert stored is not None
    assert Snapshot.from_dict(orjson.loads(stored)) == snapshot_of(newer)
