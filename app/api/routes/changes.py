"""`/v1/scores/{user_id}/changes`: why a score moved over a window (app/scoring/attribution.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from app.api.deps import ClientDep, UserIdPath
from app.api.schemas import ChangesOut, ErrorOut
from app.store import CurveChanging, NoSnapshot, Since, parse_since
from app.store.windows import SINCE_HELP

CURVE_RETRY_AFTER_S = 2
"""A refit is taken up within seconds (docs/scoring.md): a client retries after this."""

router = APIRouter(prefix="/v1/scores", tags=["scores"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorOut, "description": "No score, or no snapshot"},
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorOut,
        "description": "A curve refit is being taken up: retry after `Retry-After` seconds",
    },
}


async def since_of(
    since: Annotated[
        str, Query(max_length=32, description=f"Start of the window: {SINCE_HELP}.")
    ] = "7d",
) -> Since:
    """The parsed window; 422 with what is accepted when it is not one."""
    try:
        return parse_since(since)
    except ValueError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "since"), "msg": str(exc), "input": since}]
        ) from None


async def changes_of(client: ClientDep, user_id: str, since: Since) -> ChangesOut:
    """The attribution body, or the HTTP error that says why there is none."""
    try:
        moved = await client.attribution(user_id, since)
    except NoSnapshot as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except CurveChanging as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=str(exc),
            headers={"Retry-After": str(CURVE_RETRY_AFTER_S)},
        ) from None
    if moved is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no score for user {user_id!r}")
    return ChangesOut.of(user_id, since.text, moved)


@router.get(
    "/{user_id}/changes", summary="Why the score changed over a window", responses=_RESPONSES
)
async def get_changes(
    client: ClientDep, user_id: UserIdPath, since: Annotated[Since, Depends(since_of)]
) -> ChangesOut:
    """The score then and now, and the change in raw split into decay and new engagement by
    kind and network (they add up to it), the points due to curve refits, and the top actors
    gained and lost (docs/scoring.md, "Why did my score change?")."""
    return await changes_of(client, user_id, since)
