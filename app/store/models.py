"""Typed read results and the parsing of stored hashes into them (pure, no I/O).

Frozen slotted dataclasses: cheap to build on the lookup hot path, immutable once returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import date

import orjson

from app.scoring.attribution import Snapshot
from app.scoring.card import ScoreCard, TopicInfluence
from app.store.card_fields import card_values
from app.store.keys import percentile


class CorruptRecord(ValueError):
    """A stored value does not match the key schema (written by something other than Clout)."""


class NoSnapshot(LookupError):
    """The user's history has no daily snapshot to start the asked window from."""


class CurveChanging(RuntimeError):
    """The user's card is not on the live curve yet (a refit is being taken up): retry soon."""


@dataclass(frozen=True, slots=True)
class UserScore:
    """A user's current score and standing.

    `rank` is 1-based by raw influence (highest first) among `ranked` users; `percentile` is the
    share of the other ranked users this one outranks (see docs/redis.md). Both are None only if
    the leaderboard lacks a user whose score hash exists, which the writer never produces.
    """

    user_id: str
    score: float
    raw: float
    rank: int | None
    percentile: float | None
    ranked: int
    style: str
    engagers: int
    components: dict[str, dict[str, float]]
    updated_at_ms: int
    model_version: str
    curve_version: int
    influential_about: tuple[TopicInfluence, ...]


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One leaderboard row; `score` is None if the user's hash vanished between two reads."""

    rank: int
    user_id: str
    raw: float
    score: float | None
    percentile: float


@dataclass(frozen=True, slots=True)
class DailyScore:
    """The last score a user had on one UTC day."""

    day: date
    score: float


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """A change of a user's visible score, as published on the changes channel."""

    user_id: str
    score: float
    previous: float | None
    updated_at_ms: int


_USER_SCORE_ATTRS = frozenset(f.name for f in dataclass_fields(UserScore))
"""The card attributes a UserScore carries (parse_user_score decodes only these)."""


def parse_user_score(
    user_id: str, fields: Mapping[str, str], rank: int | None, ranked: int
) -> UserScore | None:
    """A UserScore from HGETALL of the user hash plus its 1-based rank among `ranked` users
    (app/store/leaderboard.py); None if no hash."""
    if not fields:
        return None
    try:
        return UserScore(
            user_id=user_id,
            rank=rank,
            percentile=None if rank is None else percentile(rank, ranked),
            ranked=ranked,
            **card_values(fields, _USER_SCORE_ATTRS),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"score hash of {user_id!r} is malformed: {exc!r}") from exc


def parse_explanation(user_id: str, fields: Mapping[str, str]) -> ScoreCard | None:
    """The stored score card, from HGETALL of the user hash; None if no hash."""
    if not fields:
        return None
    try:
        return ScoreCard(user_id=user_id, **card_values(fields))
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"score hash of {user_id!r} is malformed: {exc!r}") from exc


def parse_history(fields: Mapping[str, str], first_day: str, last_day: str) -> list[DailyScore]:
    """Days in [first_day, last_day] (ISO strings) from the history hash, oldest first."""
    try:
        return [
            DailyScore(date.fromisoformat(day), float(fields[day]))
            for day in sorted(fields)
            if first_day <= day <= last_day
        ]
    except ValueError as exc:
        raise CorruptRecord(f"history hash is malformed: {exc!r}") from exc


def parse_snapshots(user_id: str, fields: Mapping[str, str]) -> dict[str, Snapshot]:
    """Day (ISO string) -> Snapshot, from HGETALL of the user's snapshots hash."""
    try:
        return {day: Snapshot.from_dict(orjson.loads(text)) for day, text in fields.items()}
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise CorruptRecord(f"snapshots of {user_id!r} are malformed: {exc!r}") from exc


def parse_change(data: str | bytes) -> ScoreChange:
    """A ScoreChange from a changes-channel message body."""
    try:
        obj = orjson.loads(data)
        previous = obj["previous"]
        return ScoreChange(
            user_id=str(obj["user_id"]),
            score=float(obj["score"]),
            previous=None if previous is None else float(previous),
            updated_at_ms=int(obj["updated_at"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"change message is malformed: {exc!r}") from exc


def leaderboard_entries(
    members: list[tuple[str, float]], scores: list[str | None], offset: int, ranked: int
) -> list[LeaderboardEntry]:
    """Leaderboard rows from ZREVRANGE WITHSCORES, their visible scores, and ZCARD."""
    return [
        LeaderboardEntry(
            rank=offset + i + 1,
            user_id=user_id,
            raw=raw,
            score=None if score is None else float(score),
            percentile=percentile(offset + i + 1, max(ranked, offset + i + 1)),
        )
        for i, ((user_id, raw), score) in enumerate(zip(members, scores, strict=True))
    ]
