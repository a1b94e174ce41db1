"""The Redis key schema: the public contract between the worker (writer) and every reader.

All names hang off one versioned prefix (`Settings.redis_key_prefix`, default ``clout:v2``) so a
schema change can be rolled out under a new prefix while the old one is still served. See
docs/redis.md for the field-by-field description.

The schema is the same on a single server and on a Redis Cluster: a user's keys carry the user
id as a hash tag (``{prefix}:user:{alice}``, ``{prefix}:history:{alice}``) so they share a slot and
one Lua call can update both, and the leaderboard is a fixed number of sorted sets, each with its
own tag, so it spreads over the cluster (app/store/leaderboard.py).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.scoring.decay import MS_PER_DAY, S_PER_DAY

# How many UTC days of daily history are kept per user (today included).
HISTORY_DAYS = 90
# TTL of a history hash, refreshed on every write: one day longer than the retention, so a user
# idle for longer than the whole window loses a key that would only hold trimmed days anyway.
HISTORY_TTL_S = (HISTORY_DAYS + 1) * S_PER_DAY


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names under one prefix; build once and reuse (the names are plain strings)."""

    prefix: str
    changes: str = field(init=False)
    stats: str = field(init=False)
    api_key_names: str = field(init=False)
    curve: str = field(init=False)
    curve_versions: str = field(init=False)
    curve_history: str = field(init=False)
    curve_lock: str = field(init=False)
    topic_curves: str = field(init=False)
    topics: str = field(init=False)
    _user: str = field(init=False, repr=False)
    _history: str = field(init=False, repr=False)
    _snapshots: str = field(init=False, repr=False)
    _api_key: str = field(init=False, repr=False)
    _seen: str = field(init=False, repr=False)
    _due: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ValueError("the Redis key prefix must not be empty")
        if "{" in self.prefix or "}" in self.prefix:
            # A brace would become every key's hash tag and put all keys in one cluster slot.
            raise ValueError("the Redis key prefix must not contain '{' or '}'")
        object.__setattr__(self, "changes", f"{self.prefix}:changes")
        object.__setattr__(self, "stats", f"{self.prefix}:stats")
        # The live score curve (app/store/curve.py); one hash tag, {curve}, because a refit
        # writes the curve and its history in one MULTI, which a cluster runs within a slot.
        object.__setattr__(self, "curve", f"{self.prefix}:{{curve}}")
        object.__setattr__(self, "curve_versions", f"{self.prefix}:{{curve}}:versions")
        object.__setattr__(self, "curve_history", f"{self.prefix}:{{curve}}:history")
        object.__setattr__(self, "curve_lock", f"{self.prefix}:{{curve}}:lock")
        # The topics' own curves (#31): field <topic> -> curve JSON, `_version` (no slug starts
        # with `_`); in the {curve} slot, so a topic refit writes them in one MULTI.
        object.__setattr__(self, "topic_curves", f"{self.prefix}:{{curve}}:topics")
        object.__setattr__(self, "_user", f"{self.prefix}:user:")
        object.__setattr__(self, "_history", f"{self.prefix}:history:")
        object.__setattr__(self, "_snapshots", f"{self.prefix}:snapshots:")
        # API keys share the hash tag {apikeys}: creating one is a transaction over the names
        # hash and a record, which a cluster runs only within one slot.
        object.__setattr__(self, "api_key_names", f"{self.prefix}:{{apikeys}}")
        object.__setattr__(self, "_api_key", f"{self.prefix}:{{apikeys}}:")
        object.__setattr__(self, "_seen", f"{self.prefix}:seen:")
        object.__setattr__(self, "_due", f"{self.prefix}:due:")
        # Live topics (#31): member topic slug, score = when a user last became or stayed
        # influential about it (ms). Its own tag, so the topic sweep reads one slot.
        object.__setattr__(self, "topics", f"{self.prefix}:{{topics}}")

    def user(self, user_id: str) -> str:
        """The user's score hash."""
        return self._user + user_tag(user_id)

    def history(self, user_id: str) -> str:
        """The user's daily-history hash (day -> last score of that UTC day)."""
        return self._history + user_tag(user_id)

    def snapshots(self, user_id: str) -> str:
        """The user's daily snapshots (day -> what that day's last score was made of, JSON),
        kept beside the history and in its slot (app/scoring/attribution.py)."""
        return self._snapshots + user_tag(user_id)

    def api_key(self, key_id: str) -> str:
        """An API key's record hash (digest, scopes, limits and its rate-limit state)."""
        return self._api_key + key_id

    def seen(self, event_id: str) -> str:
        """An event id's first sighting (its Kafka position), kept for the dedupe window."""
        return self._seen + event_id

    def due(self, partition: int) -> str:
        """The decay sweep's schedule of one input partition (user id -> due time in ms)."""
        return f"{self._due}{partition}"

    def leaderboard(self, shard: int, shards: int) -> str:
        """Sorted set `shard` (0-based) of a leaderboard split over `shards` sets.

        The count is part of the name, so readers and writers configured with different shard
        counts never mix their sets.
        """
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} out of range for {shards} shards")
        return f"{self.prefix}:leaderboard:{{{shard}of{shards}}}"

    def topic_leaderboard(self, topic: str, shard: int, shards: int) -> str:
        """Sorted set `shard` of the topic's leaderboard (member user id, score topic raw).

        Sharded like the global leaderboard, and the topic is inside the hash tag, so the shards
        of different topics spread over a cluster's slots.
        """
        if not 0 <= shard < shards:
            raise ValueError(f"shard {shard} out of range for {shards} shards")
        return f"{self.prefix}:topic-board:{{{topic}:{shard}of{shards}}}"


def user_tag(user_id: str) -> str:
    """The user id as a cluster hash tag: ``{id}``, with ``%`` and ``}`` percent-escaped.

    Redis hashes only what lies between the first ``{`` and the next ``}``; escaping ``}`` keeps
    the whole id inside the tag (and a tag is never empty), and escaping ``%`` keeps the mapping
    one-to-one, so every user's keys share exactly one slot.
    """
    if "%" in user_id or "}" in user_id:
        user_id = user_id.replace("%", "%25").replace("}", "%7D")
    return "{" + user_id + "}"


def shard_of(user_id: str, shards: int) -> int:
    """The leaderboard shard holding `user_id`: CRC-32 (zlib) of its UTF-8 bytes mod `shards`."""
    return zlib.crc32(user_id.encode()) % shards


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
    return datetime.fromtimestamp(ms // MS_PER_DAY * S_PER_DAY, tz=UTC).date()


def history_window(today: date, days: int = HISTORY_DAYS) -> tuple[str, str]:
    """(first kept day, today) as ISO strings; ISO days compare correctly as plain strings."""
    if days < 1:
        raise ValueError("days must be at least 1")
    return (today - timedelta(days=days - 1)).isoformat(), today.isoformat()
