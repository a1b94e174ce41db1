"""`/v1/topics/{topic}/leaderboard` and `/v1/influencers`: finding people by topic (#31)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError

from app.api.deps import ClientDep
from app.api.routes.leaderboard import MAX_OFFSET
from app.api.schemas import InfluencersOut, TopicLeaderboardOut
from app.scoring.events import SLUG_MAX_LEN
from app.scoring.model import STYLES
from app.store.client import MAX_LEADERBOARD_LIMIT
from app.store.topics import (
    MAX_FIND_LIMIT,
    SCAN_BUDGET,
    TOPIC_PATTERN,
    InfluencerQuery,
    InvalidCursor,
)

router = APIRouter(tags=["topics"])

_SLUG = TOPIC_PATTERN.pattern
_SLUG_RULE = "a slug: 1..32 of a-z, 0-9, '_' or '-', starting with a letter or digit"

TopicPath = Annotated[
    str,
    Path(
        pattern=f"^{_SLUG}$",
        max_length=SLUG_MAX_LEN,
        description=f"The topic, {_SLUG_RULE}.",
        examples=["coffee"],
    ),
]


def _bad_query(name: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


@router.get("/v1/topics/{topic}/leaderboard", summary="A page of a topic's leaderboard")
async def topic_leaderboard(
    client: ClientDep,
    topic: TopicPath,
    limit: Annotated[int, Query(ge=1, le=MAX_LEADERBOARD_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TopicLeaderboardOut:
    """Rows ranked `offset + 1` .. `offset + limit` by topic raw influence, highest first. An
    unknown topic is an empty board."""
    entries, total = await client.topic_top(topic, limit, offset)
    return TopicLeaderboardOut.of(topic, entries, total, limit, offset)


_FIND_DESCRIPTION = (
    "Users passing every given filter, in the order of the topic's leaderboard (with `topic`) "
    f"or of the global leaderboard (without). One call reads at most {SCAN_BUDGET:,} board "
    "rows, so a sparse match returns fewer than `limit` users and a `next_cursor` to continue; "
    "the walk is complete when `next_cursor` is null."
)


@router.get(
    "/v1/influencers",
    summary="Find influencers: topic, minimum score, style, network",
    description=_FIND_DESCRIPTION,
)
async def influencers(
    client: ClientDep,
    topic: Annotated[
        str | None,
        Query(
            pattern=f"^{_SLUG}$",
            description=f"Only users influential about this topic ({_SLUG_RULE}).",
        ),
    ] = None,
    min_score: Annotated[
        float | None,
        Query(
            ge=0,
            le=100,
            description="Lowest score: the topic score with `topic`, the global score without.",
        ),
    ] = None,
    style: Annotated[
        str | None, Query(description=f"Only this style: one of {', '.join(STYLES)}.")
    ] = None,
    network: Annotated[
        str | None,
        Query(
            pattern=f"^{_SLUG}$",
            description="Only users whose raw influence is mostly on this network.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FIND_LIMIT)] = 20,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description="`next_cursor` of the previous page, unchanged."),
    ] = None,
) -> InfluencersOut:
    """The campaign query (description: `_FIND_DESCRIPTION`)."""
    try:
        query = InfluencerQuery(
            topic=topic, min_score=min_score, style=style, network=network, limit=limit
        )
    except ValueError as exc:  # the parameters' own checks leave only the style to refuse
        raise _bad_query("style", str(exc), style or "") from exc
    try:
        page = await client.find(query, cursor)
    except InvalidCursor as exc:
        raise _bad_query("cursor", str(exc), cursor or "") from exc
    return InfluencersOut.of(page)
