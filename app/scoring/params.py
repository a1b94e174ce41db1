"""The model's tunables in one frozen object, and the actor weight that depends only on them.

`ModelParams` lives apart from `model.py` so that `signals.py` (which applies events) and
`model.py` (which reads state into a score) can both use it without importing each other;
`app.scoring.model` re-exports everything here. These defaults are the only ones:
`app.core.settings.ScoringSettings` takes its own from them (in days, hours and seconds), and
`Settings.model_params()` builds one from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR
from app.scoring.events import EventRules, Kind

MODEL_VERSION = "clout-model-4"
"""Changes whenever a formula or a default changes, so stored cards say which model made them."""

KIND_CODE: dict[str, str] = {Kind.LIKE: "l", Kind.SHARE: "s", Kind.MENTION: "m"}
"""One-letter kind codes used in the compact state keys (`"ltwitter"` = likes on twitter)."""

CODE_KIND: dict[str, Kind] = {code: Kind(kind) for kind, code in KIND_CODE.items()}


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Every number the influence model uses; see docs/scoring.md for what each one does."""

    # Signal decay, per kind: likes are cheap and fade fast, shares and mentions last longer.
    like_half_life_ms: float = 14 * MS_PER_DAY
    share_half_life_ms: float = 30 * MS_PER_DAY
    mention_half_life_ms: float = 30 * MS_PER_DAY
    # Base weight per kind: how much effort the engagement costs the actor.
    like_weight: float = 1.0
    share_weight: float = 3.0
    mention_weight: float = 2.0
    # Actor weight: (actor_score / pivot) ** exponent, clamped to [floor, cap]; floor if unscored.
    actor_weight_floor: float = 0.1
    actor_weight_pivot: float = 50.0
    actor_weight_exponent: float = 2.0
    actor_weight_cap: float = 4.0
    # Repeat damping: the n-th (decayed) engagement of one actor on one target counts 1/n.
    repeat_half_life_ms: float = 30 * MS_PER_DAY
    top_actors: int = 32
    # Topics: the heaviest ones tracked per user, and the share of topic-tagged influence that
    # makes a user influential about one (`influential_about` on the card).
    top_topics: int = 16
    influential_share: float = 0.2
    # Burst damping of unproven actors (unscored, or scored below `trusted_actor_score`).
    burst_half_life_ms: float = 6 * MS_PER_HOUR
    burst_tolerance: float = 2.0
    trusted_actor_score: float = 30.0
    # Event acceptance.
    horizon_ms: int = 90 * MS_PER_DAY
    max_future_ms: int = 300_000
    # Styles.
    celebrity_score: float = 83.4
    style_dominance: float = 0.5
    specialist_share: float = 0.9

    half_lives: dict[str, float] = field(init=False, repr=False, compare=False)
    base_weights: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positive = {
            "like_half_life_ms": self.like_half_life_ms,
            "share_half_life_ms": self.share_half_life_ms,
            "mention_half_life_ms": self.mention_half_life_ms,
            "repeat_half_life_ms": self.repeat_half_life_ms,
            "burst_half_life_ms": self.burst_half_life_ms,
            "burst_tolerance": self.burst_tolerance,
            "actor_weight_pivot": self.actor_weight_pivot,
            "horizon_ms": self.horizon_ms,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive")
        if not 0 < self.actor_weight_floor <= self.actor_weight_cap:
            raise ValueError("need 0 < actor_weight_floor <= actor_weight_cap")
        if self.top_actors < 1:
            raise ValueError("top_actors must be at least 1")
        if self.top_topics < 1:
            raise ValueError("top_topics must be at least 1")
        if not 0 < self.influential_share <= 1:
            raise ValueError("need 0 < influential_share <= 1")
        # Lookup tables keyed by one-letter kind code: the hot path avoids attribute chains.
        object.__setattr__(
            self,
            "half_lives",
            {
                "l": float(self.like_half_life_ms),
                "s": float(self.share_half_life_ms),
                "m": float(self.mention_half_life_ms),
            },
        )
        object.__setattr__(
            self,
            "base_weights",
            {"l": self.like_weight, "s": self.share_weight, "m": self.mention_weight},
        )

    @property
    def event_rules(self) -> EventRules:
        """The validation rules that go with these parameters."""
        return EventRules(horizon_ms=int(self.horizon_ms), max_future_ms=int(self.max_future_ms))

    def half_life_ms(self, kind: Kind) -> float:
        """Half-life of `kind` signals."""
        return self.half_lives[KIND_CODE[kind]]

    def base_weight(self, kind: Kind) -> float:
        """Base weight of one `kind` engagement, before actor and repeat weighting."""
        return self.base_weights[KIND_CODE[kind]]


def actor_weight(actor_score: float | None, params: ModelParams) -> float:
    """How much one engagement from an actor with `actor_score` counts, relative to the pivot.

    Grows with the actor's own current score (quadratically by default) so attention from
    influential people matters more; unscored actors (new or never engaged with) get the floor,
    which is what makes freshly created accounts nearly worthless to buy.
    """
    if actor_score is None:
        return params.actor_weight_floor
    weight = float(
        (max(actor_score, 0.0) / params.actor_weight_pivot) ** params.actor_weight_exponent
    )
    if weight < params.actor_weight_floor:
        return params.actor_weight_floor
    if weight > params.actor_weight_cap:
        return params.actor_weight_cap
    return weight


def is_unproven(actor_score: float | None, params: ModelParams) -> bool:
    """Whether an actor's engagements go through burst damping (no score, or a low one)."""
    return actor_score is None or actor_score < params.trusted_actor_score
