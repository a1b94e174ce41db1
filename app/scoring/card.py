"""The score card: one user's explained score, as the scorer produces it, the store keeps it and
`ScoreClient.explain` returns it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActorContribution:
    """How much one engaging actor added to the raw total (decayed to `updated_at_ms`)."""

    actor_id: str
    contribution: float


@dataclass(frozen=True, slots=True)
class TopicInfluence:
    """One topic a user is influential about: its share of the user's topic-tagged influence,
    the topic raw (decayed weighted engagement about it), and that raw graded 1..100 on the
    topic's own curve (`curve` "topic") or, for a topic without one, the global curve."""

    topic: str
    share: float
    raw: float
    score: float
    curve: str


@dataclass(frozen=True, slots=True)
class ScoreCard:
    """A user's score at `updated_at_ms` with everything needed to explain it.

    `components[kind][network]` are decayed contributions that sum to `raw`; `curve_version`
    names the score curve that graded it (0: the default curve). `influential_about` lists the
    topics holding at least `influential_share` of the user's topic-tagged influence, largest
    share first.
    """

    user_id: str
    score: float
    raw: float
    components: dict[str, dict[str, float]]
    style: str
    engagers: int
    top_actors: tuple[ActorContribution, ...]
    updated_at_ms: int
    model_version: str
    curve_version: int
    influential_about: tuple[TopicInfluence, ...] = ()

    def kind_totals(self) -> dict[str, float]:
        """Sum of the components of each kind."""
        return {kind: sum(networks.values()) for kind, networks in self.components.items()}
