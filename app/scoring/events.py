"""The engagement event: the public contract producers write to Kafka, and its validation rules."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """Signal kind; each has its own topic, base weight and half-life."""

    LIKE = "like"
    SHARE = "share"
    MENTION = "mention"


@dataclass(frozen=True, slots=True)
class EngagementEvent:
    """One valid engagement: `actor_id` liked/shared/mentioned `target_id` at `ts_ms`."""

    event_id: str
    kind: Kind
    network: str
    actor_id: str
    target_id: str
    post_id: str | None
    ts_ms: int


class InvalidEvent(ValueError):
    """Raised by validation; `reason` is a short, stable, human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
