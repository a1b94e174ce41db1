"""Synthetic engagement and offline replays: calibrate and test the model without Kafka or Redis.

A replay runs the worker's own step (app/step) with Kafka and Redis held in memory, so it does no
I/O (import contract `pure-step`). The reference population below is the one the
curve constants are calibrated on (docs/scoring.md) and the one `clout gaming-report` uses.
"""

from __future__ import annotations

from app.simulation.population import NETWORKS, generate_events
from app.simulation.replay import (
    PopulationStats,
    ReplayResult,
    population_stats,
    replay,
    replay_states,
)

REFERENCE_USERS = 20_000
REFERENCE_EVENTS = 200_000
REFERENCE_SEED = 7
REFERENCE_END_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: a fixed end, so the reference population never changes."""

__all__ = [
    "NETWORKS",
    "REFERENCE_END_MS",
    "REFERENCE_EVENTS",
    "REFERENCE_SEED",
    "REFERENCE_USERS",
    "PopulationStats",
    "ReplayResult",
    "generate_events",
    "population_stats",
    "replay",
    "replay_states",
]
