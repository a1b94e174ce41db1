"""`/u/{user_id}`: a person's own page: the score, its 90-day history as a chart, and why it moved.

The page and its script hold no data and are open like the ops page; the page reads
`/v1/scores/...` with the API key it asks for, so the data stays behind the `scores:read` rules.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from app.api.deps import UserIdPath

router = APIRouter(tags=["user page"])

_ASSETS = {"user.js": "text/javascript; charset=utf-8"}


def _static(name: str) -> bytes:
    return resources.files("app.api").joinpath("static", name).read_bytes()


@router.get("/u/{user_id}", response_class=HTMLResponse, summary="A user's score page")
async def user_page(user_id: UserIdPath) -> HTMLResponse:
    """The page (plain HTML and one script, no CDN); the user id is read from the address."""
    return HTMLResponse(_static("user.html"))


@router.get("/u/assets/{name}", summary="The user page's script")
async def user_page_asset(name: str) -> Response:
    """A bundled static file of the page."""
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such asset")
    return Response(_static(name), media_type=media_type, headers={"Cache-Control": "no-cache"})
