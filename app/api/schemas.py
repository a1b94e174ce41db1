"""Response bodies of the HTTP API: the public JSON contract, documented in the OpenAPI schema."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.scoring.attribution import Attribution
from app.scoring.card import ScoreCard
from app.scoring.curve import Curve
from app.store import DailyScore, LeaderboardEntry, UserScore
from app.store.topics import InfluencerPage, TopicEntry


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class TopicInfluenceOut(_Out):
    """How influential a user is about one topic."""

    topic: str = Field(description="The topic slug.")
    share: float = Field(description="The topic's part of the user's raw influence (0..1).")
    raw: float = Field(description="Topic raw influence; orders the topic's leaderboard.")
    score: float = Field(description="Topic score, 1..100 with one decimal.")
    curve: str = Field(
        description='Which curve graded `score`: "topic" (the topic\'s own) or "global".'
    )


class ScoreOut(_Out):
    """A user's current score and standing."""

    user_id: str
    score: float = Field(description="Visible influence score, 1..100 with one decimal.")
    raw: float = Field(description="Raw (uncurved) influence; orders the leaderboard exactly.")
    rank: int | None = Field(description="1-based leaderboard position, highest raw first.")
    percentile: float | None = Field(
        description="Share of the other ranked users this user outranks, in percent (0..100)."
    )
    ranked: int = Field(description="How many users are on the leaderboard.")
    style: str = Field(
        description="celebrity, broadcaster, conversationalist, specialist (influence "
        "concentrated on one topic or one network) or explorer (docs/scoring.md)."
    )
    engagers: int = Field(description="Distinct actors currently contributing.")
    components: dict[str, dict[str, float]] = Field(
        description="Decayed contribution per kind, then per network; sums to `raw`."
    )
    updated_at_ms: int = Field(description="When the score was computed (epoch milliseconds).")
    model_version: str
    influential_about: list[TopicInfluenceOut] = Field(
        description="Topics the user is influential about, largest share first."
    )

    @classmethod
    def of(cls, score: UserScore) -> ScoreOut:
        """The response body for a client result."""
        return cls.model_validate(score)


class ScoresOut(_Out):
    """Several users' scores; unknown users map to null and are listed in `missing`."""

    scores: dict[str, ScoreOut | None]
    missing: list[str]


class LeaderboardEntryOut(_Out):
    """One leaderboard row."""

    rank: int
    user_id: str
    raw: float
    score: float | None = Field(description="Null only if the user vanished mid-read.")
    percentile: float


class LeaderboardOut(_Out):
    """A page of the leaderboard."""

    total: int = Field(description="How many users are ranked.")
    limit: int
    offset: int
    entries: list[LeaderboardEntryOut]

    @classmethod
    def of(
        cls, entries: list[LeaderboardEntry], total: int, limit: int, offset: int
    ) -> LeaderboardOut:
        """The response body for a client result."""
        return cls(
            total=total,
            limit=limit,
            offset=offset,
            entries=[LeaderboardEntryOut.model_validate(e) for e in entries],
        )


class TopicEntryOut(_Out):
    """One row of a topic's leaderboard."""

    rank: int
    user_id: str
    raw: float = Field(description="Topic raw influence.")
    score: float | None = Field(
        description="Topic score; null only if the user's card no longer lists the topic."
    )
    share: float | None = Field(description="The topic's part of the user's raw influence.")
    percentile: float


class TopicLeaderboardOut(_Out):
    """A page of a topic's leaderboard."""

    topic: str
    total: int = Field(description="How many users the topic's board ranks.")
    limit: int
    offset: int
    entries: list[TopicEntryOut]

    @classmethod
    def of(
        cls, topic: str, entries: list[TopicEntry], total: int, limit: int, offset: int
    ) -> TopicLeaderboardOut:
        """The response body for a client result."""
        return cls(
            topic=topic,
            total=total,
            limit=limit,
            offset=offset,
            entries=[TopicEntryOut.model_validate(e) for e in entries],
        )


class InfluencerOut(_Out):
    """A user the campaign query found."""

    user_id: str
    score: float = Field(description="Global score, 1..100.")
    raw: float = Field(description="Global raw influence.")
    style: str
    main_network: str | None = Field(description="The network with most of the raw influence.")
    topic: TopicInfluenceOut | None = Field(
        description="The user's standing in the queried topic (null without `topic`)."
    )


class InfluencersOut(_Out):
    """One page of the campaign query, in board order."""

    influencers: list[InfluencerOut]
    scanned: int = Field(description="Board rows this call read (bounded, see the docs).")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to continue the walk; null when the board is exhausted."
    )

    @classmethod
    def of(cls, page: InfluencerPage) -> InfluencersOut:
        """The response body for a client result."""
        return cls(
            influencers=[InfluencerOut.model_validate(i) for i in page.influencers],
            scanned=page.scanned,
            next_cursor=page.next_cursor,
        )


class DailyScoreOut(_Out):
    """The last score of one UTC day."""

    day: date
    score: float


class HistoryOut(_Out):
    """A user's daily scores, oldest first; days without a score are absent."""

    user_id: str
    days: int
    history: list[DailyScoreOut]

    @classmethod
    def of(cls, user_id: str, days: int, history: list[DailyScore]) -> HistoryOut:
        """The response body for a client result."""
        return cls(
            user_id=user_id,
            days=days,
            history=[DailyScoreOut.model_validate(d) for d in history],
        )


class ActorOut(_Out):
    """One engaging actor's decayed contribution to `raw`."""

    actor_id: str
    contribution: float


class ExplanationOut(_Out):
    """Where a score comes from."""

    user_id: str
    score: float
    raw: float
    style: str
    engagers: int
    components: dict[str, dict[str, float]] = Field(
        description="Decayed contribution per kind, then per network; sums to `raw`."
    )
    kinds: dict[str, float] = Field(description="Sum of `components` per kind.")
    top_actors: list[ActorOut] = Field(description="Largest single contributors, largest first.")
    updated_at_ms: int
    model_version: str
    curve_version: int = Field(
        description="Version of the score curve that graded it (0: default)."
    )
    influential_about: list[TopicInfluenceOut] = Field(
        description="Topics the user is influential about, largest share first."
    )

    @classmethod
    def of(cls, explanation: ScoreCard) -> ExplanationOut:
        """The response body for a client result."""
        e = explanation
        return cls(
            user_id=e.user_id,
            score=e.score,
            raw=e.raw,
            style=e.style,
            engagers=e.engagers,
            components=e.components,
            kinds=e.kind_totals(),
            top_actors=[ActorOut.model_validate(a) for a in e.top_actors],
            updated_at_ms=e.updated_at_ms,
            model_version=e.model_version,
            curve_version=e.curve_version,
            influential_about=[TopicInfluenceOut.model_validate(t) for t in e.influential_about],
        )


class CurveRowOut(_Out):
    """One row of the score table: the raw influence a score needs."""

    score: float
    raw: float


class CurveOut(_Out):
    """The live score curve: what it was fitted on and the raw each score needs."""

    version: int = Field(description="0: the default curve (no fit yet); fits count up from 1.")
    fitted_at_ms: int = Field(description="When it was fitted (epoch ms; 0 for the default).")
    population: int = Field(description="Active users the fit saw.")
    raw_median: float = Field(description="Raw of the median active user at the fit.")
    raw_top5: float = Field(description="Lowest raw among the top 5% at the fit.")
    raw_top01: float = Field(description="Lowest raw among the top 0.1% at the fit.")
    table: list[CurveRowOut] = Field(description="Score -> raw influence needed for it.")
    last_refit: dict[str, Any] | None = Field(
        description="The last refit's record (full or bounded, duration), if any."
    )

    @classmethod
    def of(cls, curve: Curve, last_refit: dict[str, Any] | None) -> CurveOut:
        """The response body for the stored curve and its newest history entry."""
        return cls(
            version=curve.version,
            fitted_at_ms=curve.fitted_at_ms,
            population=curve.population,
            raw_median=curve.raw_median,
            raw_top5=curve.raw_top5,
            raw_top01=curve.raw_top01,
            table=[CurveRowOut(score=score, raw=raw) for score, raw in curve.table()],
            last_refit=last_refit,
        )


class HealthOut(_Out):
    """Liveness: the process serves requests."""

    status: Literal["ok"] = "ok"


class ReadyOut(_Out):
    """Readiness: each dependency's state ("ok" or why not)."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]
    failing: list[str]


class ErrorOut(_Out):
    """An error body, as FastAPI's HTTPException renders it."""

    detail: str


class CellChangeOut(_Out):
    """One (kind, network) component over the window: `decay + new == now - then`."""

    kind: str
    network: str = Field(description='"*": the networks the day\'s snapshot summed together.')
    then: float
    now: float
    decay: float = Field(description="What the value then lost to decay by now (<= 0).")
    new: float = Field(description="New engagement: the value now beyond the decayed one.")


class ActorMoveOut(_Out):
    """A top actor gained, lost or moved (beside the sum, never added to it)."""

    actor_id: str
    then: float | None = Field(description="Contribution then; null: not a top actor then.")
    now: float | None = Field(description="Contribution now; null: not a top actor now.")
    change: float = Field(description="Now minus then decayed to now (30-day repeat half-life).")


class ChangesOut(_Out):
    """Why a score moved over a window, from a daily snapshot to the current card."""

    user_id: str
    since: str = Field(description="The window as asked (`?since=`).")
    from_day: date = Field(description="The history day whose snapshot the window starts from.")
    from_ms: int = Field(description="When that snapshot's card was computed (epoch ms).")
    to_ms: int = Field(description="When the current card was computed (epoch ms).")
    score_then: float
    score_now: float
    refit_points: float = Field(
        description="The raw of then graded on today's curve minus the score shown then."
    )
    movement_points: float = Field(description="The rest of the change in points.")
    raw_then: float
    raw_now: float
    raw_change: float = Field(description="`decay + new_engagement`.")
    decay: float
    new_engagement: float
    curve_version_then: int
    curve_version_now: int
    driver: str = Field(description="One line saying what drove the movement.")
    cells: list[CellChangeOut] = Field(description="By kind and network, largest change first.")
    movers: list[ActorMoveOut] = Field(description="Top actors, largest change first.")

    @classmethod
    def of(cls, user_id: str, since: str, moved: Attribution) -> ChangesOut:
        """The response body for a client result."""
        return cls.model_validate({"user_id": user_id, "since": since, **moved.to_dict()})
