"""`/healthz` (the process is up) and `/readyz` (Redis and Kafka answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter, Response, status

from app.api.deps import ClientDep, SettingsDep
from app.api.schemas import HealthOut, ReadyOut
from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from app.store import ScoreClient

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> HealthOut:
    """Always ok while the process serves requests; checks no dependency."""
    return HealthOut()


@router.get(
    "/readyz",
    summary="Readiness",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadyOut}},
)
async def readyz(client: ClientDep, settings: SettingsDep, response: Response) -> ReadyOut:
    """200 when Redis and Kafka both answer within the timeout, else 503 naming the failing."""
    timeout = settings.api_readiness_timeout_s
    redis_state, kafka_state = await asyncio.gather(
        _check(_redis_ok(client), timeout), _check(_kafka_ok(settings), timeout)
    )
    checks = {"redis": redis_state, "kafka": kafka_state}
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadyOut(status="not ready" if failing else "ready", checks=checks, failing=failing)


async def _check(probe: Coroutine[Any, Any, None], limit_s: float) -> str:
    """Return "ok", or why the dependency is not usable."""
    try:
        async with asyncio.timeout(limit_s):
            await probe
    except TimeoutError:
        return f"no answer within {limit_s:g}s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


async def _redis_ok(client: ScoreClient) -> None:
    await client.ping()


async def _kafka_ok(settings: Settings) -> None:
    """Fetch cluster metadata with a throwaway client: proves a broker answers Kafka requests."""
    from aiokafka.client import AIOKafkaClient

    kafka = AIOKafkaClient(**aiokafka_kwargs(settings))
    try:
        await kafka.bootstrap()
    finally:
        await kafka.close()
