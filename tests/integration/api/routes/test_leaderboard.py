"""`/v1/leaderboard` on the real stack: pages, ranks and bounds."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_leaderboard(api: httpx.AsyncClient, board: int) -> None:
    response = await api.get("/v1/leaderboard", params={"limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)
    assert body["entries"] == [
        {"rank": 1, "user_id": "bob", "raw": 8.0, "score": 70.0, "percentile": 100.0},
        {"rank": 2, "user_id": "carol", "raw": 4.0, "score": 50.0, "percentile": 50.0},
    ]
    page = (await api.get("/v1/leaderboard", params={"limit": 2, "offset": 2})).json()
    assert [e["user_id"] for e in page["entries"]] == ["alice"]
    assert (await api.get("/v1/leaderboard", params={"limit": 1000})).status_code == 200


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "ten"}]
)
async def test_leaderboard_bounds(
    api: httpx.AsyncClient, board: int, params: dict[str, int | str]
) -> None:
    response = await api.get("/v1/leaderboard", params=params)
    assert response.status_code == 422
