"""From signal state to an explained 1..100 score: styles, cards and refresh times.

The score is graded on a curve (`app.scoring.curve.Curve`): the live one fitted to the active
population, or `DEFAULT_CURVE` before any fit. Every function that turns raw into a score takes
the curve it grades on, and every card records its version (docs/scoring.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from app.scoring.card import ActorContribution, ScoreCard, TopicInfluence
from app.scoring.curve import DEFAULT_CURVE, MIN_SCORE, NO_TOPIC_CURVES, Curve, TopicCurves
from app.scoring.decay import MS_PER_DAY
from app.scoring.params import (
    CODE_KIND,
    KIND_CODE,
    MODEL_VERSION,
    ModelParams,
    actor_weight,
    is_unproven,
)
from app.scoring.signals import SignalsView

__all__ = [
    "CODE_KIND",
    "DEFAULT_CURVE",
    "EXPLAIN_TOP_ACTORS",
    "KIND_CODE",
    "MAX_REFRESH_MS",
    "MODEL_VERSION",
    "NO_TOPIC_CURVES",
    "STYLES",
    "Curve",
    "ModelParams",
    "TopicCurves",
    "actor_weight",
    "current_score",
    "influential_about",
    "is_unproven",
    "next_refresh_ms",
    "raw_for_score",
    "score_card",
    "score_from_raw",
    "style",
]

EXPLAIN_TOP_ACTORS = 5
"""How many top contributing actors a score card lists."""

MAX_REFRESH_MS = MS_PER_DAY
"""`next_refresh_ms` never looks further ahead than this, so every card is re-checked daily."""

STYLES = ("celebrity", "broadcaster", "conversationalist", "specialist", "explorer")
"""Every style label, in the order the rules are tried."""


def score_from_raw(raw: float, curve: Curve) -> float:
    """The displayed score for `raw` on `curve`: rounded to one decimal, in [1.0, 100.0]."""
    return round(curve.score(raw), 1)


def raw_for_score(score: float, curve: Curve) -> float:
    """The inverse of the curve: the raw influence whose unrounded score is `score`."""
    return curve.raw_for_score(score)


def current_score(
    state: SignalsView | None, now_ms: int, params: ModelParams, curve: Curve
) -> float | None:
    """A user's displayed score at `now_ms` without building a card (None if no state)."""
    if state is None:
        return None
    return score_from_raw(state.raw_at(now_ms, params), curve)


def style(
    score: float,
    components: Mapping[str, Mapping[str, float]],
    params: ModelParams,
    top_topic_raw: float = 0.0,
) -> str:
    """The user's style label from the signal mix; rules are tried in order, first match wins.

    1. `celebrity`: score >= `celebrity_score` (calibrated to the reference population's top 0.1%).
    2. `broadcaster`: shares are at least `style_dominance` of raw (people pass their posts on).
    3. `conversationalist`: mentions are at least `style_dominance` of raw (people talk to them).
    4. `specialist`: one topic (`top_topic_raw`, the heaviest topic's decayed engagement) or one
       network holds at least `specialist_share` of raw: influence concentrated on one subject
       or one platform.
    5. `explorer`: everything else (a balanced mix, or no signal yet).
    """
    if score >= params.celebrity_score:
        return "celebrity"
    by_kind: dict[str, float] = {}
    by_network: dict[str, float] = {}
    for kind, networks in components.items():
        for network, value in networks.items():
            by_kind[kind] = by_kind.get(kind, 0.0) + value
            by_network[network] = by_network.get(network, 0.0) + value
    total = sum(by_kind.values())
    if total <= 0.0:
        return "explorer"
    if by_kind.get("share", 0.0) >= params.style_dominance * total:
        return "broadcaster"
    if by_kind.get("mention", 0.0) >= params.style_dominance * total:
        return "conversationalist"
    if max(max(by_network.values()), top_topic_raw) >= params.specialist_share * total:
        return "specialist"
    return "explorer"


def influential_about(
    tagged: float,
    topics: Mapping[str, float],
    params: ModelParams,
    curve: Curve,
    topic_curves: TopicCurves,
) -> tuple[TopicInfluence, ...]:
    """The topics holding at least `influential_share` of `tagged` (the user's decayed
    topic-tagged influence), largest share first (then by slug).

    Each topic's raw is its decayed engagement (6 decimals), graded on its own curve in
    `topic_curves` when it has one, else on `curve`; the share has 4 decimals.
    """
    if not tagged > 0.0:
        return ()
    found: list[TopicInfluence] = []
    for topic, value in topics.items():
        share = value / tagged
        if share >= params.influential_share:
            raw = round(value, 6)
            own = topic_curves.get(topic)
            graded = curve if own is None else own
            kind = "global" if own is None else "topic"
            found.append(
                TopicInfluence(topic, round(share, 4), raw, score_from_raw(raw, graded), kind)
            )
    found.sort(key=lambda t: (-t.share, t.topic))
    return tuple(found)


def score_card(
    user_id: str,
    state: SignalsView,
    now_ms: int,
    params: ModelParams,
    curve: Curve,
    topic_curves: TopicCurves = NO_TOPIC_CURVES,
) -> ScoreCard:
    """The user's explained score at `now_ms`: every value decayed to `now_ms`.

    `components[kind][network]` (rounded to 6 decimals) sum to `raw`; the score is `curve` of
    that raw, and the card records the curve's version. `top_actors` are the heaviest tracked
    engagers with their decayed contributions; `influential_about` grades topic raws on
    `topic_curves` where a topic has one, else on `curve`.
    """
    components = state.components_at(now_ms, params)
    raw = 0.0
    for networks in components.values():
        for network, value in networks.items():
            rounded = round(value, 6)
            networks[network] = rounded
            raw += rounded
    score = score_from_raw(raw, curve)
    tagged, topics = state.topics_at(now_ms, params)
    return ScoreCard(
        user_id=user_id,
        score=score,
        raw=raw,
        components=components,
        style=style(score, components, params, max(topics.values(), default=0.0)),
        engagers=state.engagers_at(now_ms, params),
        top_actors=tuple(
            ActorContribution(actor, round(value, 6))
            for actor, value in state.top_actors_at(now_ms, params, EXPLAIN_TOP_ACTORS)
        ),
        updated_at_ms=now_ms,
        model_version=MODEL_VERSION,
        curve_version=curve.version,
        influential_about=influential_about(tagged, topics, params, curve, topic_curves),
    )


def next_refresh_ms(state: SignalsView, now_ms: int, params: ModelParams, curve: Curve) -> int:
    """The earliest time the displayed score will have dropped by >= 0.1 through decay alone.

    Capped at `now_ms + MAX_REFRESH_MS` (also returned when the score cannot drop any more), so a
    decay sweep re-scores an idle user only when what people see would change. Raw influence is a
    sum of decaying exponentials, a convex decreasing function of time, so Newton's method from
    `now_ms` approaches the crossing from below and never overshoots it.
    """
    cap = now_ms + MAX_REFRESH_MS
    totals = state.kind_totals(now_ms, params)
    terms = [(g, params.half_lives[code]) for code, g in totals.items() if g > 0.0]
    raw_now = sum(g for g, _ in terms)
    shown = score_from_raw(raw_now, curve)
    if shown <= MIN_SCORE or not terms:
        return cap
    # Below this raw the unrounded score is < shown - 0.05, which displays as <= shown - 0.1.
    target = raw_for_score(shown - 0.05, curve)
    ln2 = math.log(2.0)
    dt = 0.0
    for _ in range(64):
        value = 0.0
        slope = 0.0
        for g, half_life in terms:
            v = g * 2.0 ** (-dt / half_life)
            value += v
            slope -= v * ln2 / half_life
        if value <= target or now_ms + dt >= cap:
            break
        step = (value - target) / -slope
        dt += step
        if step < 0.5:
            break
    when = now_ms + max(1, math.ceil(dt))
    # Rounding at the boundary: step forward until the displayed score really has dropped.
    step_ms = 1
    # Displayed scores are multiples of 0.1, so "dropped by >= 0.1" is "<= shown - 0.05".
    while when < cap and score_from_raw(state.raw_at(when, params), curve) > shown - 0.05:
        when += step_ms
        step_ms *= 2
    return min(when, cap)
