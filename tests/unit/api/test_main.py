"""The API's OpenAPI contract, built without touching Redis or Kafka."""

from __future__ import annotations

from app.api import create_api
from app.core.settings import Settings
from app.store.topics import MAX_FIND_LIMIT, SCAN_BUDGET


def test_every_route_is_documented_and_read_only() -> None:
    schema = create_api(Settings()).openapi()
    paths = schema["paths"]
    assert set(paths) == {
        "/v1/scores",
        "/v1/scores/{user_id}",
        "/v1/scores/{user_id}/history",
        "/v1/scores/{user_id}/explain",
        "/v1/scores/{user_id}/changes",
        "/u/{user_id}",
        "/u/assets/{name}",
        "/v1/leaderboard",
        "/v1/topics/{topic}/leaderboard",
        "/v1/influencers",
        "/v1/curve",
        "/healthz",
        "/readyz",
        "/ops",
        "/ops/assets/{name}",
        "/ops/lag",
        "/ops/stream",
        "/metrics",
    }
    assert all(set(ops) == {"get"} for ops in paths.values())


def test_bounds_appear_in_the_schema() -> None:
    paths = create_api(Settings()).openapi()["paths"]
    params = {p["name"]: p["schema"] for p in paths["/v1/leaderboard"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == 1000
    assert params["limit"]["minimum"] == 1
    history = {
        p["name"]: p["schema"] for p in paths["/v1/scores/{user_id}/history"]["get"]["parameters"]
    }
    assert history["days"]["maximum"] == 90
    assert history["user_id"]["maxLength"] == 128
    assert "404" in paths["/v1/scores/{user_id}"]["get"]["responses"]


def test_the_campaign_query_states_its_bounds() -> None:
    find = create_api(Settings()).openapi()["paths"]["/v1/influencers"]["get"]
    params = {p["name"]: p["schema"] for p in find["parameters"]}
    assert set(params) == {"topic", "min_score", "style", "network", "limit", "cursor"}
    assert params["limit"]["maximum"] == MAX_FIND_LIMIT
    score = params["min_score"]["anyOf"][0]
    assert (score["minimum"], score["maximum"]) == (0, 100)
    assert f"at most {SCAN_BUDGET:,} board rows" in find["description"]
