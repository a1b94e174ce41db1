"""The Redis key schema: the public contract between the worker (writer) and every reader.

All names hang off one versioned prefix (`Settings.redis_key_prefix`, default ``clout:v1``) so a
schema change can be rolled out under a new prefix while the old one is still served. See
docs/redis.md for the field-by-field description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

# How many UTC days of daily history are kept per user (today included).
HISTORY_DAYS = 90
# TTL of a history hash, refreshed on every write: one day longer than the retention, so a user
# idle for longer than the whole window loses a key that would only hold trimmed days anyway.
HISTORY_TTL_S = (HISTORY_DAYS + 1) * 86_400

_MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names under one prefix; build once and reuse (the names are plain strings)."""

    prefix: str
    leaderboard: str = field(init=False)
    changes: str = field(init=False)
    stats: str = field(init=False)
    api_key_names: str = field(init=False)
    curve: str = field(init=False)
    curve_versions: str = field(init=False)
    curve_history: str = field(init=False)
    curve_lock: str = field(init=False)
    _user: str = field(init=False, repr=False)
    _history: str = field(init=False, repr=False)
    _api_key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ValueError("the Redis key prefix must not be empty")
        object.__setattr__(self, "leaderboard", f"{self.prefix}:leaderboard")
        object.__setattr__(self, "changes", f"{self.prefix}:changes")
        object.__setattr__(self, "stats", f"{self.prefix}:stats")
        # The live score curve (app/store/curve.py).
        object.__setattr__(self, "curve", f"{self.prefix}:curve")
        object.__setattr__(self, "curve_versions", f"{self.prefix}:curve:versions")
        object.__setattr__(self, "curve_history", f"{self.prefix}:curve:history")
        object.__setattr__(self, "curve_lock", f"{self.prefix}:curve:lock")
        object.__setattr__(self, "_user", f"{self.prefix}:user:")
        object.__setattr__(self, "_history", f"{self.prefix}:history:")
        object.__setattr__(self, "api_key_names", f"{self.prefix}:apikeys")
        object.__setattr__(self, "_api_key", f"{self.prefix}:apikey:")

    def user(self, user_id: str) -> str:
        """The user's score hash."""
        return self._user + user_id

    def history(self, user_id: str) -> str:
        """The user's daily-history hash (day -> last score of that UTC day)."""
        return self._history + user_id

    def api_key(self, key_id: str) -> str:
        """An API key's record hash (digest, scopes, limits and its rate-limit state)."""
        return self._api_key + key_id


def percentile(rank: int, total: int) -> float:
    """Share of the *other* ranked users that `rank` outranks, in percent (0..100, 2 decimals).

    Rank 1 of N is 100.0, rank N of N is 0.0, and a lone user (N = 1) is 100.0. Ranks are
    1-based positions in the leaderboard ordered by raw influence, highest first.
    """
    if total < 1 or not 1 <= rank <= total:
        raise ValueError(f"rank {rank} out of range for {total} ranked users")
    if total == 1:
        return 100.0
    return round(100.0 * (total - rank) / (total - 1), 2)


def utc_day(ms: int) -> date:
    """The UTC calendar day of an epoch-milliseconds instant."""
    return datetime.fromtimestamp(ms // _MS_PER_DAY * 86_400, tz=UTC).date()


def history_window(today: date, days: int = HISTORY_DAYS) -> tuple[str, str]:
    """(first kept day, today) as ISO strings; ISO days compare correctly as plain strings."""
    if days < 1:
        raise ValueError("days must be at least 1")
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()
