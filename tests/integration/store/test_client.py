"""ScoreClient against the real Redis: every lookup, its round trips, and the change feed."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from app.core.settings import Settings
from app.scoring.attribution import snapshot_of
from app.scoring.card import ActorContribution
from app.store import (
    CorruptRecord,
    NoSnapshot,
    RedisKeys,
    ScoreClient,
    ScoreWriter,
    UserScore,
    parse_since,
)
from app.store.client import MAX_LEADERBOARD_LIMIT
from tests.support.cards import DAY_MS, make_card, now_ms

pytestmark = pytest.mark.integration


@pytest.fixture
async def board(writer: ScoreWriter) -> int:
    """Four users: dave > carol > bob > alice by raw influence; returns their updated_at."""
    at = now_ms()
    await writer.write(
        [
            make_card("alice", score=20.0, raw=1.0, updated_at_ms=at),
            make_card("bob", score=40.0, raw=2.0, updated_at_ms=at),
            make_card("carol", score=40.0, raw=2.5, updated_at_ms=at),  # same score, more raw
            make_card(
                "dave",
                score=80.5,
                raw=9.0,
                updated_at_ms=at,
                components={"share": {"twitter": 6.0}, "like": {"twitter": 2.0, "bsky": 1.0}},
                top_actors=(ActorContribution("fan-9", 4.5), ActorContribution("fan-3", 2.0)),
                style="sharer",
                engagers=12,
            ),
        ]
    )
    return at


class RoundTrips:
    """Counts writes to Redis sockets in this process: one pipelined request is one write to
    each server it involves (on a cluster, one per master holding a key it touches)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = Connection.send_packed_command

        async def counting(conn: Connection, *args: object, **kwargs: object) -> None:
            self.count += 1
            await original(conn, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Connection, "send_packed_command", counting)

    def expected(self, settings: Settings) -> int:
        """Writes of one lookup: one on a single server; on the cluster (16 shards over three
        masters) two sequential round trips, each to at most three masters."""
        return 6 if settings.redis_cluster else 1


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    return RoundTrips(monkeypatch)


async def test_get_returns_score_rank_and_percentile(client: ScoreClient, board: int) -> None:
    dave = await client.get("dave")
    assert dave == UserScore(
        user_id="dave",
        score=80.5,
        raw=9.0,
        rank=1,
        percentile=100.0,
        ranked=4,
        style="sharer",
        engagers=12,
        components={"share": {"twitter": 6.0}, "like": {"twitter": 2.0, "bsky": 1.0}},
        updated_at_ms=board,
        model_version="test-model",
        curve_version=0,
        influential_about=(),
    )
    bob = await client.get("bob")
    assert bob is not None
    assert (bob.rank, bob.percentile) == (3, 33.33)
    alice = await client.get("alice")
    assert alice is not None
    assert (alice.rank, alice.percentile) == (4, 0.0)


async def test_unknown_users_have_no_score(client: ScoreClient, board: int) -> None:
    assert await client.get("nobody") is None
    assert await client.explain("nobody") is None
    assert not await client.exists("nobody")
    assert await client.exists("alice")


async def test_get_is_one_round_trip(
    client: ScoreClient, board: int, round_trips: RoundTrips, isolated_settings: Settings
) -> None:
    await client.get("carol")  # the pool's connections are open (handshakes are not counted)
    round_trips.count = 0
    assert await client.get("carol") is not None
    if isolated_settings.redis_cluster:
        assert 2 <= round_trips.count <= round_trips.expected(isolated_settings)
    else:
        assert round_trips.count == 1


async def test_get_many_is_one_round_trip_in_input_order(
    client: ScoreClient, board: int, round_trips: RoundTrips, isolated_settings: Settings
) -> None:
    await client.get_many(["carol", "nobody", "alice", "carol", "dave"])
    round_trips.count = 0
    found = await client.get_many(["carol", "nobody", "alice", "carol", "dave"])
    if isolated_settings.redis_cluster:
        assert 2 <= round_trips.count <= round_trips.expected(isolated_settings)
    else:
        assert round_trips.count == 1
    assert list(found) == ["carol", "nobody", "alice", "dave"]
    assert found["nobody"] is None
    ranks = {u: s.rank for u, s in found.items() if s is not None}
    assert ranks == {"carol": 2, "alice": 4, "dave": 1}
    assert found["carol"] == await client.get("carol")
    assert await client.get_many([]) == {}


async def test_top_pages_through_the_leaderboard(client: ScoreClient, board: int) -> None:
    first = await client.top(limit=2)
    assert [(e.rank, e.user_id, e.score, e.raw) for e in first] == [
        (1, "dave", 80.5, 9.0),
        (2, "carol", 40.0, 2.5),
    ]
    rest = await client.top(limit=10, offset=2)
    assert [(e.rank, e.user_id, e.percentile) for e in rest] == [
        (3, "bob", 33.33),
        (4, "alice", 0.0),
    ]
    assert await client.top(limit=5, offset=4) == []
    assert await client.size() == 4


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (MAX_LEADERBOARD_LIMIT + 1, 0), (10, -1)])
async def test_top_refuses_out_of_range_pages(client: ScoreClient, limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match=r"^(limit|offset)"):
        await client.top(limit, offset)


async def test_top_on_an_empty_board(client: ScoreClient) -> None:
    assert await client.top() == []
    assert await client.size() == 0


@pytest.mark.parametrize("days", [0, 91])
async def test_history_refuses_out_of_range_windows(client: ScoreClient, days: int) -> None:
    with pytest.raises(ValueError, match="days"):
        await client.history("alice", days)


async def test_explain_lists_components_and_top_actors(client: ScoreClient, board: int) -> None:
    exp = await client.explain("dave")
    assert exp is not None
    assert exp.components == {"share": {"twitter": 6.0}, "like": {"twitter": 2.0, "bsky": 1.0}}
    assert exp.kind_totals() == {"share": 6.0, "like": 3.0}
    assert exp.top_actors == (ActorContribution("fan-9", 4.5), ActorContribution("fan-3", 2.0))
    assert (exp.raw, exp.score, exp.model_version, exp.updated_at_ms) == (
        9.0,
        80.5,
        "test-model",
        board,
    )


async def test_changes_delivers_notifications(writer: ScoreWriter, client: ScoreClient) -> None:
    at = now_ms()
    async with client.changes() as feed:
        await writer.write([make_card("erin", score=12.3, raw=0.5, updated_at_ms=at)])
        change = await asyncio.wait_for(feed.__anext__(), 10)
    assert (change.user_id, change.score, change.previous, change.updated_at_ms) == (
        "erin",
        12.3,
        None,
        at,
    )


async def test_changes_skips_malformed_messages(
    writer: ScoreWriter,
    client: ScoreClient,
    isolated_settings: Settings,
    redis_client: aioredis.Redis,
) -> None:
    channel = RedisKeys(isolated_settings.redis_key_prefix).changes
    async with client.changes() as feed:
        await redis_client.publish(channel, b"not json")
        await writer.write([make_card("erin", score=12.3)])
        change = await asyncio.wait_for(feed.__anext__(), 10)
    assert change.user_id == "erin"


async def test_changes_as_a_plain_async_iterator(writer: ScoreWriter, client: ScoreClient) -> None:
    feed = client.changes()
    await feed.subscribe()  # what `async with` and the first `__anext__` do
    try:
        await writer.write([make_card("erin", score=50.0)])
        async for change in feed:
            assert change.user_id == "erin"
            break
    finally:
        await feed.aclose()


async def test_a_malformed_hash_raises_corrupt_record(
    client: ScoreClient, isolated_settings: Settings, redis_client: aioredis.Redis
) -> None:
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    await redis_client.hset(keys.user("mallory"), mapping={"score": "high", "raw": "1"})
    try:
        with pytest.raises(CorruptRecord, match="mallory"):
            await client.get("mallory")
    finally:
        await redis_client.delete(keys.user("mallory"))


async def test_ping_and_close(isolated_settings: Settings) -> None:
    reader = ScoreClient.from_settings(isolated_settings)
    assert await reader.ping()
    await reader.aclose()


async def test_attribution_reads_the_card_and_the_days_snapshot(
    writer: ScoreWriter, client: ScoreClient
) -> None:
    at = now_ms()
    then = make_card("alice", score=37.5, raw=1.0, updated_at_ms=at - 14 * DAY_MS)
    await writer.write([then])
    now = make_card(
        "alice",
        score=44.4,
        raw=2.5,
        updated_at_ms=at,
        components={"like": {"twitter": 0.5}, "share": {"twitter": 2.0}},
    )
    await writer.write([now])

    moved = await client.attribution("alice", parse_since("7d"))

    assert moved is not None
    assert moved.then == snapshot_of(then)
    assert moved.now == snapshot_of(now)
    assert moved.decay == -0.5  # a 14-day like, one half-life
    assert moved.new_engagement == 2.0
    assert await client.attribution("ghost", parse_since("7d")) is None
    with pytest.raises(NoSnapshot, match="no daily snapshot of 'alice'"):
        await client.attribution("alice", parse_since("2000-01-01"))
