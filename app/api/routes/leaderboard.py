"""`/v1/leaderboard`: users ranked by raw influence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import ClientDep
from app.api.schemas import LeaderboardOut
from app.store.client import MAX_LEADERBOARD_LIMIT

MAX_OFFSET = 100_000_000

router = APIRouter(prefix="/v1/leaderboard", tags=["leaderboard"])


@router.get("", summary="A page of the leaderboard")
async def leaderboard(
    client: ClientDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LEADERBOARD_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> LeaderboardOut:
    """Rows ranked `offset + 1` .. `offset + limit`, highest raw influence first."""
    entries = await client.top(limit, offset)
    return LeaderboardOut.of(entries, await client.size(), limit, offset)
