"""Small builders shared by the scoring tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from app.scoring.decay import MS_PER_DAY
from app.scoring.events import EngagementEvent, Kind
from app.scoring.params import ModelParams
from app.scoring.signals import UserSignals, apply_event

T0 = 1_767_225_600_000
DAY = MS_PER_DAY
TRUSTED = 50.0
"""An actor score at the default pivot: weight exactly 1.0 and never burst-damped."""

_ids = itertools.count()


def event(
    actor: str = "alice",
    *,
    ts: int = T0,
    kind: Kind = Kind.LIKE,
    network: str = "twitter",
    target: str = "bob",
    topics: tuple[str, ...] = (),
) -> EngagementEvent:
    return EngagementEvent(
        event_id=f"e{next(_ids)}",
        kind=kind,
        network=network,
        actor_id=actor,
        target_id=target,
        post_id=None,
        ts_ms=ts,
        topics=topics,
    )


def fold(
    events: Iterable[EngagementEvent],
    params: ModelParams,
    actor_score: float | None = TRUSTED,
    state: UserSignals | None = None,
) -> UserSignals:
    for item in events:
        state = apply_event(state, item, actor_score, params)
    assert state is not None
    return state
