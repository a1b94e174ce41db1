"""`/v1/topics/{topic}/leaderboard` and `/v1/influencers` on the real stack: results, paging,
4xx messages for bad arguments, and the API key rule."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import TopicInfluence
from app.security.access import Scope
from app.store import ScoreWriter
from app.store.topics import encode_cursor
from tests.support.api import issue_key, serve
from tests.support.cards import make_card, now_ms
from tests.support.topics import write_topics

pytestmark = pytest.mark.integration


def coffee(share: float, raw: float, score: float) -> TopicInfluence:
    return TopicInfluence("coffee", share, raw, score, "topic")


@pytest.fixture
async def topics(writer: ScoreWriter, store_redis: Redis, isolated_settings: Settings) -> None:
    """Five users; four are influential about coffee (dave most), two about tea."""
    at = now_ms()
    insta = {"like": {"instagram": 3.0, "twitter": 1.0}}
    await writer.write(
        [
            make_card("alice", 30.0, 4.0, at, components=insta, style="specialist"),
            make_card("bob", 70.0, 9.0, at, style="broadcaster"),
            make_card("carol", 55.0, 6.0, at, components=insta, style="specialist"),
            make_card("dave", 40.0, 5.0, at, components=insta, style="specialist"),
            make_card("erin", 20.0, 2.0, at, style="explorer"),
        ]
    )
    about = {
        "alice": [coffee(0.5, 2.0, 45.0)],
        "bob": [coffee(0.1, 0.9, 30.0), TopicInfluence("tea", 0.6, 5.4, 80.0, "topic")],
        "carol": [coffee(0.4, 2.4, 52.0)],
        "dave": [coffee(0.9, 4.5, 90.0), TopicInfluence("tea", 0.05, 0.25, 12.0, "global")],
    }
    await write_topics(store_redis, isolated_settings.redis_key_prefix, about, at)


async def test_a_topic_leaderboard_page(api: httpx.AsyncClient, topics: None) -> None:
    response = await api.get("/v1/topics/coffee/leaderboard", params={"limit": 2, "offset": 1})
    assert response.status_code == 200
    assert response.json() == {
        "topic": "coffee",
        "total": 4,
        "limit": 2,
        "offset": 1,
        "entries": [
            {
                "rank": 2,
                "user_id": "carol",
                "raw": 2.4,
                "score": 52.0,
                "share": 0.4,
                "percentile": 66.67,
            },
            {
                "rank": 3,
                "user_id": "alice",
                "raw": 2.0,
                "score": 45.0,
                "share": 0.5,
                "percentile": 33.33,
            },
        ],
    }
    whole = (await api.get("/v1/topics/coffee/leaderboard")).json()
    assert [e["user_id"] for e in whole["entries"]] == ["dave", "carol", "alice", "bob"]
    tea = (await api.get("/v1/topics/tea/leaderboard")).json()
    assert [e["user_id"] for e in tea["entries"]] == ["bob", "dave"]


async def test_an_unknown_topic_is_an_empty_board(api: httpx.AsyncClient, topics: None) -> None:
    response = await api.get("/v1/topics/knitting/leaderboard")
    assert response.status_code == 200
    assert (response.json()["total"], response.json()["entries"]) == (0, [])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/topics/Coffee/leaderboard",
        "/v1/topics/cold%20brew/leaderboard",
        f"/v1/topics/{'x' * 33}/leaderboard",
        "/v1/topics/-coffee/leaderboard",
        "/v1/topics/coffee/leaderboard?limit=0",
        "/v1/topics/coffee/leaderboard?limit=1001",
        "/v1/topics/coffee/leaderboard?offset=-1",
    ],
)
async def test_topic_leaderboard_bad_arguments_are_422(
    api: httpx.AsyncClient, topics: None, path: str
) -> None:
    response = await api.get(path)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] in ("topic", "limit", "offset")
    assert problem["msg"]


def ids(body: dict[str, object]) -> list[str]:
    found = body["influencers"]
    assert isinstance(found, list)
    return [i["user_id"] for i in found]


async def test_influencers_without_filters_follow_the_global_board(
    api: httpx.AsyncClient, topics: None
) -> None:
    body = (await api.get("/v1/influencers")).json()
    assert ids(body) == ["bob", "carol", "dave", "alice", "erin"]
    assert (body["scanned"], body["next_cursor"]) == (5, None)
    assert body["influencers"][1] == {
        "user_id": "carol",
        "score": 55.0,
        "raw": 6.0,
        "style": "specialist",
        "main_network": "instagram",
        "topic": None,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"topic": "coffee"}, ["dave", "carol", "alice", "bob"]),
        ({"topic": "coffee", "min_score": 50}, ["dave", "carol"]),
        ({"topic": "coffee", "min_score": 50, "style": "specialist"}, ["dave", "carol"]),
        ({"topic": "coffee", "network": "twitter"}, ["bob"]),
        ({"topic": "coffee", "network": "instagram", "min_score": 45}, ["dave", "carol", "alice"]),
        ({"topic": "tea", "min_score": 50}, ["bob"]),
        ({"min_score": 50}, ["bob", "carol"]),  # the global score without a topic
        ({"style": "specialist", "min_score": 35}, ["carol", "dave"]),
        ({"network": "twitter"}, ["bob", "erin"]),
        ({"topic": "coffee", "style": "explorer"}, []),
    ],
    ids=str,
)
async def test_influencer_filters_combine(
    api: httpx.AsyncClient, topics: None, params: dict[str, str | float], expected: list[str]
) -> None:
    response = await api.get("/v1/influencers", params=params)
    assert response.status_code == 200
    assert ids(response.json()) == expected


async def test_influencers_carry_the_topic_standing(api: httpx.AsyncClient, topics: None) -> None:
    body = (await api.get("/v1/influencers", params={"topic": "tea", "limit": 1})).json()
    assert body["influencers"][0]["topic"] == {
        "topic": "tea",
        "share": 0.6,
        "raw": 5.4,
        "score": 80.0,
        "curve": "topic",
    }


async def test_influencer_pages_follow_the_cursor(api: httpx.AsyncClient, topics: None) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | float] = {"topic": "coffee", "limit": 1}
        if cursor is not None:
            params["cursor"] = cursor
        body = (await api.get("/v1/influencers", params=params)).json()
        seen += ids(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["dave", "carol", "alice", "bob"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"topic": "Coffee"}, "topic", "String should match pattern"),
        ({"network": "Insta Gram"}, "network", "String should match pattern"),
        ({"min_score": 101}, "min_score", "less than or equal to 100"),
        ({"min_score": -1}, "min_score", "greater than or equal to 0"),
        ({"min_score": "high"}, "min_score", "valid number"),
        ({"style": "influencer"}, "style", "unknown style 'influencer'; one of celebrity"),
        ({"limit": 101}, "limit", "less than or equal to 100"),
        ({"cursor": "nonsense!"}, "cursor", "malformed cursor"),
        ({"cursor": encode_cursor("tea", 1), "topic": "coffee"}, "cursor", "another topic"),
        ({"cursor": encode_cursor("coffee", 1)}, "cursor", "another topic"),
    ],
    ids=str,
)
async def test_bad_influencer_arguments_are_422_with_a_message(
    api: httpx.AsyncClient, topics: None, params: dict[str, str | float], field: str, message: str
) -> None:
    response = await api.get("/v1/influencers", params=params)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", field]
    assert message in problem["msg"]


async def test_the_routes_need_a_key_with_scores_read(
    isolated_settings: Settings, store_redis: Redis, topics: None
) -> None:
    ops_only = await issue_key(isolated_settings, "ops", (Scope.OPS_READ,))
    for key, status in ((None, 401), (ops_only, 403)):
        async with serve(isolated_settings, key) as http:
            for path in ("/v1/topics/coffee/leaderboard", "/v1/influencers?topic=coffee"):
                response = await http.get(path)
                assert response.status_code == status, (path, key)
                assert response.json()["detail"]
