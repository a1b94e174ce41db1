"""`/v1/scores` on the real stack: one user, several, history and explanation; 404s, 422s and
input bounds."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.scoring.card import TopicInfluence
from app.store import ScoreWriter
from app.store.keys import utc_day
from tests.support.cards import make_card
from tests.support.topics import write_topics

pytestmark = pytest.mark.integration


async def test_get_score(api: httpx.AsyncClient, board: int) -> None:
    response = await api.get("/v1/scores/alice")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "score": 35.5,
        "raw": 1.5,
        "rank": 3,
        "percentile": 0.0,
        "ranked": 3,
        "style": "liked",
        "engagers": 2,
        "components": {"like": {"twitter": 1.0}, "mention": {"bsky": 0.5}},
        "updated_at_ms": board,
        "model_version": "test-model",
        "influential_about": [],
    }


async def test_scores_and_explain_list_topics_the_user_is_influential_about(
    api: httpx.AsyncClient, board: int, store_redis: Redis, isolated_settings: Settings
) -> None:
    about = [
        TopicInfluence("tea", 0.2, 0.3, 22.5, "global"),
        TopicInfluence("coffee", 0.7, 1.05, 64.0, "topic"),
    ]
    await write_topics(store_redis, isolated_settings.redis_key_prefix, {"alice": about}, board)
    one = (await api.get("/v1/scores/alice")).json()
    many = (await api.get("/v1/scores", params={"ids": "alice"})).json()
    explained = (await api.get("/v1/scores/alice/explain")).json()
    for score in (one, many["scores"]["alice"], explained):
        assert score["influential_about"] == [
            {"topic": "coffee", "share": 0.7, "raw": 1.05, "score": 64.0, "curve": "topic"},
            {"topic": "tea", "share": 0.2, "raw": 0.3, "score": 22.5, "curve": "global"},
        ]


async def test_unknown_user_is_404_with_a_message(api: httpx.AsyncClient, board: int) -> None:
    for path in ("/v1/scores/ghost", "/v1/scores/ghost/history", "/v1/scores/ghost/explain"):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "no score for user 'ghost'"}


async def test_get_many(api: httpx.AsyncClient, board: int) -> None:
    response = await api.get("/v1/scores", params={"ids": "carol,ghost,bob,carol"})
    assert response.status_code == 200
    body = response.json()
    assert list(body["scores"]) == ["carol", "ghost", "bob"]
    assert body["scores"]["ghost"] is None
    assert body["missing"] == ["ghost"]
    assert body["scores"]["bob"]["rank"] == 1
    assert body["scores"]["carol"]["percentile"] == 50.0


async def test_get_many_accepts_repeated_parameters(api: httpx.AsyncClient, board: int) -> None:
    response = await api.get("/v1/scores?ids=alice&ids=bob")
    assert response.status_code == 200
    assert list(response.json()["scores"]) == ["alice", "bob"]


async def test_get_many_bounds(api: httpx.AsyncClient, board: int) -> None:
    hundred = ",".join(f"u{i}" for i in range(100))
    ok = await api.get("/v1/scores", params={"ids": hundred})
    assert ok.status_code == 200
    assert len(ok.json()["missing"]) == 100
    for ids in (hundred + ",u100", "", "a," + "x" * 129):
        response = await api.get("/v1/scores", params={"ids": ids})
        assert response.status_code == 422, ids[:20]
        assert response.json()["detail"][0]["loc"] == ["query", "ids"]
    assert (await api.get("/v1/scores")).status_code == 422  # ids missing


async def test_user_id_length_bound(api: httpx.AsyncClient, board: int) -> None:
    assert (await api.get("/v1/scores/" + "x" * 128)).status_code == 404
    for suffix in ("", "/history", "/explain"):
        response = await api.get("/v1/scores/" + "x" * 129 + suffix)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


async def test_history(api: httpx.AsyncClient, board: int) -> None:
    today = utc_day(board)
    response = await api.get("/v1/scores/alice/history", params={"days": 7})
    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "days": 7,
        "history": [
            {"day": (today - timedelta(days=3)).isoformat(), "score": 30.0},
            {"day": today.isoformat(), "score": 35.5},
        ],
    }
    one_day = (await api.get("/v1/scores/alice/history", params={"days": 1})).json()
    assert [d["score"] for d in one_day["history"]] == [35.5]
    default = (await api.get("/v1/scores/alice/history")).json()
    assert default["days"] == 30
    assert (await api.get("/v1/scores/alice/history", params={"days": 90})).status_code == 200


@pytest.mark.parametrize("days", [0, 91, -5])
async def test_history_bounds(api: httpx.AsyncClient, board: int, days: int) -> None:
    response = await api.get("/v1/scores/alice/history", params={"days": days})
    assert response.status_code == 422


async def test_explain(api: httpx.AsyncClient, board: int) -> None:
    response = await api.get("/v1/scores/alice/explain")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": "alice",
        "score": 35.5,
        "raw": 1.5,
        "style": "liked",
        "engagers": 2,
        "components": {"like": {"twitter": 1.0}, "mention": {"bsky": 0.5}},
        "kinds": {"like": 1.0, "mention": 0.5},
        "top_actors": [
            {"actor_id": "fan-1", "contribution": 1.0},
            {"actor_id": "fan-2", "contribution": 0.25},
        ],
        "updated_at_ms": board,
        "model_version": "test-model",
        "curve_version": 0,
        "influential_about": [],
    }


async def test_there_is_no_write_path(api: httpx.AsyncClient, board: int) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await api.request(method, "/v1/scores/alice")
        assert response.status_code == 405, method


async def test_ids_with_commas_or_slashes_have_a_route(
    api: httpx.AsyncClient, writer: ScoreWriter
) -> None:
    await writer.write([make_card("a,b", score=12.0), make_card("x/y", score=13.0)])
    by_path = await api.get("/v1/scores/a%2Cb")
    assert by_path.status_code == 200
    assert by_path.json()["user_id"] == "a,b"
    by_query = await api.get("/v1/scores", params={"ids": "x/y"})
    assert by_query.json()["scores"]["x/y"]["score"] == 13.0
