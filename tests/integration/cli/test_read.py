"""`clout score|top|explain|history` as a user runs them: a child process on the real Redis."""

from __future__ import annotations

import orjson
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import ActorContribution, TopicInfluence
from app.store import ScoreWriter
from tests.support.cards import DAY_MS, make_card, now_ms
from tests.support.cli import clout
from tests.support.topics import write_topics

pytestmark = pytest.mark.integration


@pytest.fixture
async def scored(writer: ScoreWriter, isolated_settings: Settings) -> Settings:
    at = now_ms()
    await writer.write([make_card("alice", 35.0, 2.0, at - 2 * DAY_MS)])
    await writer.write(
        [
            make_card(
                "alice",
                score=45.5,
                raw=3.0,
                updated_at_ms=at,
                components={"share": {"mastodon": 2.0}, "like": {"twitter": 1.0}},
                top_actors=(ActorContribution("fan-42", 1.75),),
            ),
            make_card("bob", 70.0, 8.0, at),
        ]
    )
    return isolated_settings


async def test_score(scored: Settings) -> None:
    code, out, _ = await clout(scored, "score", "alice", "--json")
    assert code == 0
    body = orjson.loads(out)
    assert (body["score"], body["rank"], body["ranked"], body["percentile"]) == (45.5, 2, 2, 0.0)
    code, out, _ = await clout(scored, "score", "alice")
    assert code == 0
    assert "45.5" in out
    assert "2 of 2" in out


async def test_unknown_user_exits_1(scored: Settings) -> None:
    for command in ("score", "explain", "history"):
        code, _, err = await clout(scored, command, "nobody")
        assert code == 1, command
        assert "no score for user 'nobody'" in err


async def test_top(scored: Settings) -> None:
    code, out, _ = await clout(scored, "top", "--limit", "1", "--json")
    assert code == 0
    assert [e["user_id"] for e in orjson.loads(out)] == ["bob"]
    code, out, _ = await clout(scored, "top")
    assert code == 0
    assert out.index("bob") < out.index("alice")


@pytest.fixture
async def topical(scored: Settings, store_redis: Redis) -> Settings:
    """alice and bob are both influential about coffee (bob more), alice also about tea."""
    about = {
        "alice": [
            TopicInfluence("coffee", 0.6, 1.8, 41.5, "topic"),
            TopicInfluence("tea", 0.3, 0.9, 20.0, "global"),
        ],
        "bob": [TopicInfluence("coffee", 0.5, 4.0, 66.0, "topic")],
    }
    await write_topics(store_redis, scored.redis_key_prefix, about, now_ms())
    return scored


async def test_top_of_a_topic(topical: Settings) -> None:
    code, out, _ = await clout(topical, "top", "--topic", "coffee", "--json")
    assert code == 0
    body = orjson.loads(out)
    assert (body["topic"], body["total"]) == ("coffee", 2)
    assert [(e["user_id"], e["score"]) for e in body["entries"]] == [("bob", 66.0), ("alice", 41.5)]
    code, out, _ = await clout(topical, "top", "--topic", "tea")
    assert code == 0
    assert "alice" in out
    assert "bob" not in out
    assert "30.0%" in out


async def test_score_and_explain_name_the_topics(topical: Settings) -> None:
    for command in ("score", "explain"):
        code, out, _ = await clout(topical, command, "alice")
        assert code == 0
        assert "coffee 41.5 (60%), tea 20.0 (30%)" in out, command
    code, out, _ = await clout(topical, "explain", "alice", "--json")
    assert [t["topic"] for t in orjson.loads(out)["influential_about"]] == ["coffee", "tea"]


async def test_find(topical: Settings) -> None:
    code, out, _ = await clout(topical, "find", "--topic", "coffee", "--min-score", "50", "--json")
    assert code == 0
    page = orjson.loads(out)
    assert [i["user_id"] for i in page["influencers"]] == ["bob"]
    assert page["next_cursor"] is None
    code, out, _ = await clout(topical, "find", "--network", "mastodon", "--limit", "1")
    assert code == 0
    assert "alice" in out
    assert "end of the board" in out
    code, out, _ = await clout(topical, "find", "--limit", "1")
    assert code == 0
    assert "bob" in out
    cursor = out.split("--cursor ")[1].split()[0]
    code, out, _ = await clout(topical, "find", "--limit", "1", "--cursor", cursor, "--json")
    assert [i["user_id"] for i in orjson.loads(out)["influencers"]] == ["alice"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("find", "--topic", "Coffee"), "invalid topic"),
        (("top", "--topic", "cold brew"), "invalid topic"),
        (("find", "--min-score", "101"), "must be within 0..100"),
        (("find", "--style", "famous"), "invalid choice"),
        (("find", "--network", "Mast odon"), "invalid network"),
        (("find", "--topic", "tea", "--cursor", "bm9wZQ"), "malformed cursor"),
    ],
)
async def test_bad_find_arguments_exit_2(
    topical: Settings, args: tuple[str, ...], message: str
) -> None:
    code, _, err = await clout(topical, *args)
    assert code == 2
    assert message in " ".join(err.split())


async def test_explain_shows_where_the_score_comes_from(scored: Settings) -> None:
    code, out, _ = await clout(scored, "explain", "alice")
    assert code == 0
    for text in ("share", "mastodon", "66.7%", "like", "twitter", "33.3%", "fan-42", "58.3%"):
        assert text in out, text
    for text in ("model test-model", "curve v0"):
        assert text in out, text
    code, out, _ = await clout(scored, "explain", "alice", "--json")
    assert orjson.loads(out)["top_actors"] == [{"actor_id": "fan-42", "contribution": 1.75}]


async def test_history(scored: Settings) -> None:
    code, out, _ = await clout(scored, "history", "alice", "--days", "7", "--json")
    assert code == 0
    assert [d["score"] for d in orjson.loads(out)] == [35.0, 45.5]
    code, out, _ = await clout(scored, "history", "alice", "--days", "1", "--json")
    assert [d["score"] for d in orjson.loads(out)] == [45.5]


@pytest.mark.parametrize(
    "args", [("top", "--limit", "0"), ("top", "--limit", "1001"), ("history", "a", "--days", "91")]
)
async def test_out_of_range_arguments_exit_2(scored: Settings, args: tuple[str, ...]) -> None:
    code, _, err = await clout(scored, *args)
    assert code == 2
    assert "must be within" in err


async def test_unreachable_redis_exits_3(isolated_settings: Settings) -> None:
    nowhere = {"redis_url": "redis://127.0.0.1:1/0", "redis_cluster_nodes": ""}  # no seed either
    broken = isolated_settings.model_copy(update=nowhere)
    code, _, err = await clout(broken, "score", "alice")
    assert code == 3
    assert "Redis is not usable" in err
