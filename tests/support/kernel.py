"""Inputs shared by the kernel's tests: a Kafka message stand-in and a fitted curve."""

from __future__ import annotations

from dataclasses import dataclass

from app.scoring.curve import Population, fit_curve
from app.scoring.model import DEFAULT_CURVE
from tests.support.scoring import T0


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: object = ()


FITTED = fit_curve(
    Population(count=5000, raw_median=0.4, raw_top5=3.0, raw_top01=25.0),
    DEFAULT_CURVE,
    version=7,
    fitted_at_ms=T0,
    max_step=100.0,
    min_population=1000,
    full=True,
)
