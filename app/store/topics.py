"""Reads of topic influence (#31): a topic's leaderboard, and the campaign query "who are the
most influential people about X, score N+, of this style, on this network".

A topic's board is sharded like the global leaderboard (docs/redis.md "Topics"), so both are read
through `Leaderboard`, the one owner of sharded ranks and pages. The campaign query walks a board
in rank order (the topic's board, or the global leaderboard without a topic), reads each
candidate's score hash and keeps those that pass every filter. One call reads at most
`SCAN_BUDGET` candidates, so its cost is bounded whatever the filters; a cursor continues the
walk where the call stopped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.scoring.card import TopicInfluence
from app.scoring.events import NETWORK_PATTERN
from app.scoring.model import STYLES
from app.store.card_fields import card_values
from app.store.connection import RedisClient
from app.store.keys import RedisKeys, percentile
from app.store.leaderboard import Leaderboard
from app.store.models import CorruptRecord

SCAN_BUDGET = 1000
"""Most board rows one campaign query reads (each costs one row of a page and one HMGET)."""

SCAN_CHUNK = 250
"""Board rows read per round trip of a campaign query (`SCAN_BUDGET` is a multiple of it)."""

MAX_FIND_LIMIT = 100
"""Most influencers one campaign query returns."""

TOPIC_PATTERN = NETWORK_PATTERN
"""A topic slug is shaped like a network slug (the events' one rule, app/scoring/events.py)."""

# The user-hash fields the campaign query filters and reports on (each names its ScoreCard
# attribute too, app/store/card_fields.py).
_FIELDS = ("score", "raw", "style", "components", "influential_about")


class InvalidCursor(ValueError):
    """A cursor this query did not hand out (malformed, or from another topic's walk)."""


def check_topic(topic: str) -> str:
    """`topic` if it is a slug; ValueError saying why not."""
    if TOPIC_PATTERN.fullmatch(topic) is None:
        raise ValueError(
            f"invalid topic {topic[:40]!r}: a slug of 1..32 lowercase letters, digits, "
            "'_' or '-', starting with a letter or digit"
        )
    return topic


@dataclass(frozen=True, slots=True)
class TopicEntry:
    """One row of a topic's leaderboard: rank by topic raw among `ranked` users.

    `score` and `share` come from the user's `influential_about`; both are None if the user's
    card no longer lists the topic (a board row the writer has not trimmed yet).
    """

    rank: int
    user_id: str
    raw: float
    score: float | None
    share: float | None
    percentile: float


@dataclass(frozen=True, slots=True)
class InfluencerQuery:
    """The campaign query's filters; None means "any". `min_score` applies to the topic score
    when `topic` is set, to the global score otherwise."""

    topic: str | None = None
    min_score: float | None = None
    style: str | None = None
    network: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.topic is not None:
            check_topic(self.topic)
        if self.network is not None and NETWORK_PATTERN.fullmatch(self.network) is None:
            raise ValueError(f"invalid network {self.network[:40]!r}: not a network slug")
        if self.style is not None and self.style not in STYLES:
            raise ValueError(f"unknown style {self.style[:40]!r}; one of {', '.join(STYLES)}")
        if self.min_score is not None and not 0.0 <= self.min_score <= 100.0:
            raise ValueError("min_score must be within 0..100")
        if not 1 <= self.limit <= MAX_FIND_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_FIND_LIMIT}")

    def admits(self, candidate: Influencer) -> bool:
        """Whether `candidate` passes every filter."""
        if self.topic is not None and candidate.topic is None:
            return False
        if self.style is not None and candidate.style != self.style:
            return False
        if self.network is not None and candidate.main_network != self.network:
            return False
        if self.min_score is None:
            return True
        graded = candidate.score if candidate.topic is None else candidate.topic.score
        return graded >= self.min_score


@dataclass(frozen=True, slots=True)
class Influencer:
    """A user the campaign query found: global score and style, the network holding most of
    the raw, and (with a topic) the user's standing in it."""

    user_id: str
    score: float
    raw: float
    style: str
    main_network: str | None
    topic: TopicInfluence | None


@dataclass(frozen=True, slots=True)
class InfluencerPage:
    """One call's matches in board order, how many rows it read, and the cursor to continue
    (None: the board is exhausted)."""

    influencers: list[Influencer]
    scanned: int
    next_cursor: str | None


def main_network(components: Mapping[str, Mapping[str, float]]) -> str | None:
    """The network with the largest part of the raw (ties: the first in name order); None
    without any positive contribution."""
    by_network: dict[str, float] = {}
    for networks in components.values():
        for network, value in networks.items():
            by_network[network] = by_network.get(network, 0.0) + value
    best = max(sorted(by_network), key=lambda n: by_network[n], default=None)
    return best if best is not None and by_network[best] > 0.0 else None


def candidate(user_id: str, values: Sequence[str | None], topic: str | None) -> Influencer | None:
    """An Influencer from HMGET of `_FIELDS`; None if the user has no score hash any more.

    With `topic`, `Influencer.topic` is the user's entry for it (None if the card lost it).
    """
    fields = {name: value for name, value in zip(_FIELDS, values, strict=True) if value is not None}
    if "score" not in fields:
        return None
    try:
        card = card_values(fields, _FIELDS)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptRecord(f"score hash of {user_id!r} is malformed: {exc!r}") from exc
    return Influencer(
        user_id=user_id,
        score=card["score"],
        raw=card["raw"],
        style=card["style"],
        main_network=main_network(card["components"]),
        topic=None if topic is None else standing(card["influential_about"], topic),
    )


def standing(about: Sequence[TopicInfluence], topic: str) -> TopicInfluence | None:
    """The entry of `influential_about` for `topic`, if the card lists it."""
    return next((t for t in about if t.topic == topic), None)


def encode_cursor(topic: str | None, offset: int) -> str:
    """The opaque cursor of a walk of `topic`'s board (None: the global one) at `offset`."""
    text = f"{topic or ''}:{offset}".encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str, topic: str | None) -> int:
    """The board offset in `cursor`; InvalidCursor unless `encode_cursor(topic, …)` made it."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        walked, _, offset = text.rpartition(":")
        value = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("malformed cursor: pass back a next_cursor unchanged") from exc
    if walked != (topic or ""):
        raise InvalidCursor("this cursor belongs to another topic's query")
    if value < 0 or str(value) != offset:
        raise InvalidCursor("malformed cursor: pass back a next_cursor unchanged")
    return value


class TopicReader:
    """Topic leaderboards and the campaign query under one key prefix.

    `board` is the global leaderboard (its shard count is every topic board's).
    """

    def __init__(self, redis: RedisClient, prefix: str, board: Leaderboard) -> None:
        self._redis = redis
        self._prefix = prefix
        self._keys = RedisKeys(prefix)
        self._global = board

    def board(self, topic: str) -> Leaderboard:
        """The topic's leaderboard (a reader over its shards; nothing is read yet)."""
        return Leaderboard(self._redis, self._prefix, self._global.shards, topic=check_topic(topic))

    async def top(self, topic: str, limit: int, offset: int) -> tuple[list[TopicEntry], int]:
        """Rows ranked `offset + 1` .. `offset + limit` by topic raw, and how many are ranked."""
        rows, ranked = await self.board(topic).top(offset, limit)
        if not rows:
            return [], ranked
        pipe = self._redis.pipeline(transaction=False)
        for user_id, _ in rows:
            pipe.hget(self._keys.user(user_id), "influential_about")
        abouts: list[str | None] = await pipe.execute()
        entries = []
        for i, ((user_id, raw), about) in enumerate(zip(rows, abouts, strict=True)):
            try:
                stored = {} if about is None else {"influential_about": about}
                listed = card_values(stored, ("influential_about",))["influential_about"]
            except (ValueError, TypeError) as exc:
                raise CorruptRecord(f"influential_about of {user_id!r}: {exc!r}") from exc
            mine = standing(listed, topic)
            rank = offset + i + 1
            entries.append(
                TopicEntry(
                    rank=rank,
                    user_id=user_id,
                    raw=raw,
                    score=None if mine is None else mine.score,
                    share=None if mine is None else mine.share,
                    percentile=percentile(rank, max(ranked, rank)),
                )
            )
        return entries, ranked

    async def find(self, query: InfluencerQuery, cursor: str | None = None) -> InfluencerPage:
        """The next matches of `query` in board order, reading at most `SCAN_BUDGET` rows.

        Raises InvalidCursor for a cursor another query handed out.
        """
        board = self._global if query.topic is None else self.board(query.topic)
        offset = 0 if cursor is None else decode_cursor(cursor, query.topic)
        found: list[Influencer] = []
        scanned = 0
        ended = False
        while scanned < SCAN_BUDGET and len(found) < query.limit:
            rows, ranked = await board.top(offset, SCAN_CHUNK)
            pipe = self._redis.pipeline(transaction=False)
            for user_id, _ in rows:
                pipe.hmget(self._keys.user(user_id), _FIELDS)
            replies: list[Any] = await pipe.execute() if rows else []
            read = 0
            for (user_id, _), values in zip(rows, replies, strict=True):
                read += 1
                match = candidate(user_id, values, query.topic)
                if match is not None and query.admits(match):
                    found.append(match)
                    if len(found) == query.limit:
                        break
            offset += read
            scanned += read
            # A short page read to its end is the board's end (`ranked` may lag a live board).
            if offset >= ranked or (read == len(rows) < SCAN_CHUNK):
                ended = True
                break
        return InfluencerPage(found, scanned, None if ended else encode_cursor(query.topic, offset))
