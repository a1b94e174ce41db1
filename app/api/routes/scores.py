"""`/v1/scores`: one user's score, several at once, daily history and the explanation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError

from app.api.deps import ClientDep, UserIdPath
from app.api.schemas import ErrorOut, ExplanationOut, HistoryOut, ScoreOut, ScoresOut
from app.scoring.events import MAX_ID_LEN
from app.store import HISTORY_DAYS

MAX_IDS_PER_CALL = 100

router = APIRouter(prefix="/v1/scores", tags=["scores"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorOut, "description": "No score"}
}


def _unknown(user_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no score for user {user_id!r}")


async def parse_ids(
    ids: Annotated[
        list[str],
        Query(
            description=(
                f"Comma-separated user ids (the parameter may also repeat); at most "
                f"{MAX_IDS_PER_CALL} distinct ids, each 1..{MAX_ID_LEN} characters. "
                "An id containing a comma must be looked up with GET /v1/scores/{user_id}."
            ),
            examples=["alice,bob"],
        ),
    ],
) -> list[str]:
    """Distinct ids in request order; 422 when empty, too many or too long."""
    unique = list(dict.fromkeys(part for value in ids for part in value.split(",") if part))
    problem = None
    if not unique:
        problem = "at least one user id is required"
    elif len(unique) > MAX_IDS_PER_CALL:
        problem = f"at most {MAX_IDS_PER_CALL} ids per call (got {len(unique)})"
    else:
        too_long = next((u for u in unique if len(u) > MAX_ID_LEN), None)
        if too_long is not None:
            problem = f"user id longer than {MAX_ID_LEN} characters: {too_long[:32]!r}..."
    if problem is not None:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "ids"), "msg": problem, "input": ids}]
        )
    return unique


@router.get("", summary="Scores of several users in one call")
async def get_scores(
    client: ClientDep, user_ids: Annotated[list[str], Depends(parse_ids)]
) -> ScoresOut:
    """Scores of up to 100 users; unknown ones are null and listed in `missing`."""
    found = await client.get_many(user_ids)
    return ScoresOut(
        scores={u: None if s is None else ScoreOut.of(s) for u, s in found.items()},
        missing=[u for u, s in found.items() if s is None],
    )


@router.get("/{user_id}", summary="One user's score", responses=_NOT_FOUND)
async def get_score(client: ClientDep, user_id: UserIdPath) -> ScoreOut:
    """The user's current score, rank and percentile.

    An id containing "/" cannot be a path segment: look it up with `GET /v1/scores?ids=`.
    """
    score = await client.get(user_id)
    if score is None:
        raise _unknown(user_id)
    return ScoreOut.of(score)


@router.get("/{user_id}/history", summary="Daily score history", responses=_NOT_FOUND)
async def get_history(
    client: ClientDep,
    user_id: UserIdPath,
    days: Annotated[
        int, Query(ge=1, le=HISTORY_DAYS, description="How many UTC days back, today included.")
    ] = 30,
) -> HistoryOut:
    """The last score of each of the last `days` UTC days that had one, oldest first."""
    if not await client.exists(user_id):
        raise _unknown(user_id)
    return HistoryOut.of(user_id, days, await client.history(user_id, days))


@router.get("/{user_id}/explain", summary="Where the score comes from", responses=_NOT_FOUND)
async def explain(client: ClientDep, user_id: UserIdPath) -> ExplanationOut:
    """Decayed contributions per kind and network, and the top contributing actors."""
    explanation = await client.explain(user_id)
    if explanation is None:
        raise _unknown(user_id)
    return ExplanationOut.of(explanation)
