"""`/v1/curve`: the live score curve every score is graded on."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ClientDep
from app.api.schemas import CurveOut

router = APIRouter(prefix="/v1/curve", tags=["curve"])


@router.get("", summary="The current score curve")
async def current_curve(client: ClientDep) -> CurveOut:
    """Version, when and on how many active users it was fitted, and the raw each score needs."""
    curves = client.curves
    curve = await curves.load()
    history = await curves.history(1)
    return CurveOut.of(curve, history[0] if history else None)
