"""Topic leaderboards, the live-topics set and the removal of faded topics (#31), written by the
ScoreWriter on the real Redis, single server and cluster."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import ScoreCard, TopicInfluence
from app.scoring.model import ModelParams
from app.simulation import generate_events, replay_states
from app.store import RedisKeys, ScoreWriter
from app.store.card_fields import card_values
from app.store.leaderboard import Leaderboard
from tests.support.cards import DAY_MS, make_card, now_ms

pytestmark = pytest.mark.integration


def about(card: ScoreCard, **raws: float) -> ScoreCard:
    """`card` influential about these topics (share 1/n each), with these topic raws."""
    return dataclasses.replace(
        card,
        influential_about=tuple(
            TopicInfluence(topic, round(1 / len(raws), 4), raw, 50.0, "global")
            for topic, raw in raws.items()
        ),
    )


async def board(redis: Redis, settings: Settings, shards: int, topic: str) -> dict[str, float]:
    """The whole topic leaderboard (every shard), user -> topic raw."""
    top = Leaderboard(redis, settings.redis_key_prefix, shards, topic=topic)
    rows, _ = await top.top(0, 10_000)
    return dict(rows)


@pytest.mark.parametrize("shards", [1, 4])
async def test_cards_put_users_on_their_topics_boards_and_take_them_off_when_they_leave(
    store_redis: Redis, isolated_settings: Settings, shards: int
) -> None:
    prefix = isolated_settings.redis_key_prefix
    writer = ScoreWriter(store_redis, prefix, leaderboard_shards=shards)
    at = now_ms()
    cards = [
        about(make_card("alice", updated_at_ms=at), coffee=3.0, tea=1.5),
        about(make_card("bob", updated_at_ms=at), coffee=5.0),
        make_card("carol", updated_at_ms=at),
    ]
    assert await writer.write(cards) == 3
    assert await board(store_redis, isolated_settings, shards, "coffee") == {
        "bob": 5.0,
        "alice": 3.0,
    }
    assert await board(store_redis, isolated_settings, shards, "tea") == {"alice": 1.5}
    stored = await store_redis.hget(RedisKeys(prefix).user("alice"), "influential_about")
    assert card_values({"influential_about": stored}, {"influential_about"}) == {
        "influential_about": cards[0].influential_about
    }
    assert await store_redis.zrange(RedisKeys(prefix).topics, 0, -1, withscores=True) == [
        ("coffee", float(at)),
        ("tea", float(at)),
    ]

    # alice leaves tea, bob leaves every topic: both off those boards, the rest unchanged
    later = [
        about(make_card("alice", updated_at_ms=at + 1), coffee=4.0),
        make_card("bob", updated_at_ms=at + 1),
    ]
    assert await writer.write(later) == 2
    assert await board(store_redis, isolated_settings, shards, "coffee") == {"alice": 4.0}
    assert await board(store_redis, isolated_settings, shards, "tea") == {}
    assert await store_redis.hget(RedisKeys(prefix).user("bob"), "influential_about") == "[]"


async def test_a_stale_card_changes_no_board(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    writer = ScoreWriter(store_redis, isolated_settings.redis_key_prefix)
    at = now_ms()
    assert await writer.write([about(make_card("alice", updated_at_ms=at), coffee=2.0)]) == 1
    stale = about(make_card("alice", updated_at_ms=at - 1), tea=9.0)
    assert await writer.write([stale]) == 0
    shards = writer.leaderboard.shards
    assert await board(store_redis, isolated_settings, shards, "coffee") == {"alice": 2.0}
    assert await board(store_redis, isolated_settings, shards, "tea") == {}


@pytest.mark.parametrize("shards", [1, 3])
async def test_each_board_shard_keeps_the_top_n_so_the_board_holds_the_topics_top_n(
    store_redis: Redis, isolated_settings: Settings, shards: int
) -> None:
    size = 5
    writer = ScoreWriter(
        store_redis,
        isolated_settings.redis_key_prefix,
        leaderboard_shards=shards,
        topic_leaderboard_size=size,
    )
    at = now_ms()
    raws = {f"u{i:02d}": float(i + 1) for i in range(40)}
    for start in range(0, 40, 7):  # several writes: trimming holds across batches
        chunk = list(raws.items())[start : start + 7]
        await writer.write([about(make_card(u, updated_at_ms=at), coffee=r) for u, r in chunk])
    held = await board(store_redis, isolated_settings, shards, "coffee")
    top = sorted(raws.items(), key=lambda item: -item[1])[:size]
    assert sorted(held.items(), key=lambda item: -item[1])[:size] == top
    for key in writer.topic_boards.board_keys("coffee"):
        assert await store_redis.zcard(key) <= size


async def test_faded_topics_lose_their_keys_so_keys_do_not_grow_with_every_topic(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    prefix = isolated_settings.redis_key_prefix
    writer = ScoreWriter(store_redis, prefix, leaderboard_shards=2)
    boards = writer.topic_boards
    start = now_ms() - 60 * DAY_MS

    named = ["coffee", *(f"t{d}-{i}" for d in range(30) for i in range(10))]

    async def topic_keys() -> int:
        """Board keys that exist, of every topic ever named (SCAN would walk the shared DB)."""
        pipe = store_redis.pipeline(transaction=False)
        for topic in named:
            for key in boards.board_keys(topic):
                pipe.exists(key)
        return sum(await pipe.execute())

    counts = []
    # 30 days, 10 new topics named each day (and "coffee" every day), retention 7 days.
    for day in range(30):
        at = start + day * DAY_MS
        cards = [
            about(make_card(f"u{day}-{i}", updated_at_ms=at), **{f"t{day}-{i}": 1.0, "coffee": 1.0})
            for i in range(10)
        ]
        await writer.write(cards)
        await store_redis.hset(
            RedisKeys(prefix).topic_curves, mapping={f"t{day}-0": "{}", "_version": 1}
        )
        await boards.remove_faded(at, 7 * DAY_MS)
        counts.append(await topic_keys())
    live = await store_redis.zrange(RedisKeys(prefix).topics, 0, -1)
    # 7 days of topics (a topic last listed exactly 7 days ago is gone), and coffee
    assert len(live) == 7 * 10 + 1
    assert {"coffee", "t29-0"} <= set(live)
    assert "t0-0" not in live
    # growing for the first week, then flat: 7 days of 10 topics, and coffee's shards
    assert counts[:7] == sorted(set(counts[:7]))
    assert set(counts[6:]) == {7 * 10 + 2}
    curves = await store_redis.hkeys(RedisKeys(prefix).topic_curves)
    assert "t0-0" not in curves
    assert "t29-0" in curves
    # everything goes once nothing is listed for the retention period
    await boards.remove_faded(start + (29 + 8) * DAY_MS, 7 * DAY_MS)
    assert await topic_keys() == 0
    assert await store_redis.zcard(RedisKeys(prefix).topics) == 0


async def test_a_topic_listed_again_after_the_cutoff_is_kept(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    writer = ScoreWriter(store_redis, isolated_settings.redis_key_prefix)
    at = now_ms()
    await writer.write([about(make_card("alice", updated_at_ms=at - 10 * DAY_MS), coffee=1.0)])
    await writer.write([about(make_card("bob", updated_at_ms=at), coffee=2.0)])
    assert await writer.topic_boards.remove_faded(at, 7 * DAY_MS) == []
    shards = writer.leaderboard.shards
    coffee = await board(store_redis, isolated_settings, shards, "coffee")
    assert coffee == {"bob": 2.0, "alice": 1.0}


async def test_topic_boards_equal_a_brute_force_ranking_of_the_same_events(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    # a population the topic model was not tuned on, replayed by the model and written as the
    # worker writes, in batches and sharded; each board against every card's own listing
    params = ModelParams()
    end = now_ms()
    stream = list(generate_events(1500, 15000, 21, end))
    cards = list(replay_states(stream, params, end).cards(end, params).values())
    size = 15
    writer = ScoreWriter(
        store_redis,
        isolated_settings.redis_key_prefix,
        leaderboard_shards=3,
        topic_leaderboard_size=size,
    )
    for start in range(0, len(cards), 400):
        await writer.write(cards[start : start + 400])
    brute: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for card in cards:
        for topic in card.influential_about:
            brute[topic.topic].append((card.user_id, topic.raw))
    assert len(brute) >= 50
    for topic, listed in brute.items():
        expected = sorted(listed, key=lambda row: (-row[1], row[0]))[:size]
        top = Leaderboard(store_redis, isolated_settings.redis_key_prefix, 3, topic=topic)
        rows, _ = await top.top(0, size)
        assert sorted(rows, key=lambda row: (-row[1], row[0])) == expected, topic
