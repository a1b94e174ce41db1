"""Request dependencies as `Annotated` aliases, so routes declare what they need by type.

Every dependency is `async def`, even one that never awaits: FastAPI runs a plain `def`
dependency in its threadpool, a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.core.settings import Settings
from app.scoring.events import MAX_ID_LEN
from app.store import ScoreClient


async def get_score_client(request: Request) -> ScoreClient:
    """The app's one ScoreClient, opened by the lifespan."""
    client: ScoreClient = request.app.state.score_client
    return client


async def get_settings_of_app(request: Request) -> Settings:
    """The Settings the app was created with (not re-read from the environment)."""
    settings: Settings = request.app.state.settings
    return settings


ClientDep = Annotated[ScoreClient, Depends(get_score_client)]
SettingsDep = Annotated[Settings, Depends(get_settings_of_app)]
UserIdPath = Annotated[
    str,
    Path(min_length=1, max_length=MAX_ID_LEN, description="The user id, as in the events."),
]
