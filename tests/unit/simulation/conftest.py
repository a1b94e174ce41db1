"""The reference population, replayed once per test session (a few seconds of pure Python)."""

from __future__ import annotations

import pytest

from app.scoring.card import ScoreCard
from app.scoring.model import ModelParams
from app.simulation import (
    REFERENCE_END_MS,
    REFERENCE_EVENTS,
    REFERENCE_SEED,
    REFERENCE_USERS,
    ReplayResult,
    generate_events,
    replay_states,
)


@pytest.fixture(scope="session")
def default_params() -> ModelParams:
    """The model with its default settings (equal to `Settings().model_params()` by test)."""
    return ModelParams()


@pytest.fixture(scope="session")
def reference_replay(default_params: ModelParams) -> ReplayResult:
    """generate_events(20000, 200000, seed=7) replayed with default settings."""
    events = generate_events(REFERENCE_USERS, REFERENCE_EVENTS, REFERENCE_SEED, REFERENCE_END_MS)
    return replay_states(events, default_params, REFERENCE_END_MS)


@pytest.fixture(scope="session")
def reference_cards(
    reference_replay: ReplayResult, default_params: ModelParams
) -> dict[str, ScoreCard]:
    """Every active user's card at the end of the reference population."""
    return reference_replay.cards(REFERENCE_END_MS, default_params)
