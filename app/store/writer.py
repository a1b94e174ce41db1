"""The worker's Redis writer: score cards in, monotonic and pipelined, on one server or a cluster.

A Lua script (write_cards.lua, beside this module) applies a chunk of cards whose keys share one
hash slot (on a single server: any cards) atomically: for each card it compares the card's
fencing token (the writer's consumer group generation, docs/guarantees.md) and then its
`updated_at_ms` with the stored ones, and skips the card if the stored one has a higher token, or
the same token and a newer update: a paused worker's late card cannot replace its successor's,
and a replayed or reordered batch can never move a score back in time. It returns which cards it
applied; only those then reach the leaderboard (app/store/leaderboard.py, whose shards live in
other slots). With a score feed it also says, atomically with each card, which applied cards
need a feed record, and keeps each user's threshold level (docs/redis.md). The card's stored
fields are app/store/card_fields.py's table. A `write()` is two pipelined round trips: every
script call, then the leaderboard and stats updates.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, TypeVar, cast

import clout_kernel
import orjson

from app.scoring.attribution import Snapshot
from app.scoring.card import ScoreCard
from app.scoring.decay import MS_PER_DAY
from app.scoring.thresholds import band, tenths
from app.store.card_fields import format_score
from app.store.connection import (
    RedisClient,
    ScriptCall,
    chunks_by_slot,
    register_lua,
    run_script,
)
from app.store.keys import HISTORY_DAYS, HISTORY_TTL_S, RedisKeys, history_window, utc_day
from app.store.leaderboard import Leaderboard
from app.store.topic_boards import DEFAULT_TOPIC_LEADERBOARD_SIZE, TopicBoards

# Cards per script call. Each call blocks Redis while it runs, so chunks stay small enough to
# keep other clients' latency low; larger chunks were not faster (docs/redis.md, "The writer").
DEFAULT_CHUNK_SIZE = 250

_T = TypeVar("_T")


def _feed_arg(feed: FeedMarks | None) -> bytes:
    """The script's feed argument (ARGV[3]): null without a feed."""
    if feed is None:
        return b"null"
    return orjson.dumps({"by": feed.producer_id, "marks": [tenths(t) for t in feed.thresholds]})


def _user_of_card(card: ScoreCard) -> str:
    return card.user_id


def _user_of_pair(pair: tuple[str, int]) -> str:
    return pair[0]


@lru_cache(maxsize=64)
def _days(day_number: int) -> tuple[str, str]:
    """(the day, first kept day) for a UTC day number; cached since a batch spans few days."""
    first, today = history_window(utc_day(day_number * MS_PER_DAY), HISTORY_DAYS)
    return today, first


@lru_cache(maxsize=2048)
def _levels(shown: str, thresholds: tuple[float, ...], hysteresis: float) -> tuple[int, int]:
    """(low, high) of the band a stored score allows; cached, as there are only 1,000 visible
    scores and the writer asks for every card."""
    allowed = band(float(shown), thresholds, hysteresis)
    return allowed.low, allowed.high


@dataclass(frozen=True, slots=True)
class FeedMarks:
    """What the script needs to keep the score feed: who produces it, and the thresholds.

    `producer_id` must be unique per producing process: a record marked by another id and never
    confirmed may have died with its producer, so the next write makes it again.
    """

    producer_id: str
    thresholds: tuple[float, ...]  # sorted
    hysteresis: float


@dataclass(frozen=True, slots=True)
class FeedChange:
    """An applied card that needs a feed record: its visible score and threshold levels, and,
    when the levels differ, the card it replaced (None: a first score), which the driver of the
    record's crossings compares it with. A record that crosses no threshold has no driver, so
    the script leaves the replaced card out (`replaced` None; decoding it was a cost per change).
    """

    card: ScoreCard
    score: float
    previous: float | None
    level_before: int
    level_after: int
    replaced: Snapshot | None = None


def _replaced_card(fields: Sequence[Any]) -> Snapshot | None:
    """The replaced card from the script's reply (updated_at, score, raw, components, curve
    version; None each for a first score; none at all for a change without crossings), as a
    snapshot without its actors."""
    if not fields or fields[0] is None:
        return None
    updated_at, score, raw, components, curve_version = fields
    return Snapshot(
        int(updated_at),
        float(score),
        float(raw),
        int(curve_version or 0),
        orjson.loads(components),
        (),
    )


@dataclass(slots=True)
class Applied:
    """What a write did: how many cards were not stale, and the feed records they need."""

    count: int = 0
    changes: list[FeedChange] = field(default_factory=list)


class ScoreWriter:
    """Applies score cards to Redis under `prefix` (see docs/redis.md for the key schema).

    `leaderboard_shards` must match the readers' (`Settings.leaderboard_shards`); None takes
    the same default (1 on a single server, 16 on a cluster).
    """

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        leaderboard_shards: int | None = None,
        feed: FeedMarks | None = None,
        topic_leaderboard_size: int = DEFAULT_TOPIC_LEADERBOARD_SIZE,
    ) -> None:
        """`feed`: keep the score feed's marks (None: no feed records, `changes` stay empty);
        `topic_leaderboard_size`: users kept per topic leaderboard shard."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._chunk_size = chunk_size
        self._script = register_lua(redis, __package__, "write_cards.lua")
        self._confirm_script = register_lua(redis, __package__, "confirm_feed.lua")
        self._feed = feed
        self._feed_arg = _feed_arg(feed)
        self.leaderboard = Leaderboard(redis, prefix, leaderboard_shards)
        self.topic_boards = TopicBoards(
            redis, prefix, self.leaderboard.shards, topic_leaderboard_size
        )
        # One write() at a time per writer: the cards a script applied reach the leaderboard in
        # the next round trip, and a second write() in between (the decay sweep beside the
        # agent) could otherwise put an older raw into the ranking after a newer one.
        self._lock = asyncio.Lock()

    @property
    def keys(self) -> RedisKeys:
        """The key names this writer uses."""
        return self._keys

    async def write(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int] | None = None
    ) -> int:
        """Apply `cards` (any order, duplicates allowed); return how many were not stale."""
        return (await self.apply(cards, fences)).count

    async def apply(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int] | None = None
    ) -> Applied:
        """Apply `cards` (any order, duplicates allowed); say what was applied and changed.

        `fences` gives a user's card its fencing token (default 0). A card is stale, and
        skipped, when the stored card has a higher token, or the same token and a strictly
        newer `updated_at`. Raises ValueError for a card with a non-finite score or raw before
        anything is sent.
        """
        outcome = Applied()
        if not cards:
            return outcome
        fences = fences or {}
        calls = [self._encode_chunk(chunk, fences) for chunk in self._chunks(cards, _user_of_card)]
        async with self._lock:
            # Replaying a chunk after NOSCRIPT is safe: applying a card is idempotent.
            results = await run_script(self._redis, self._script, [call for _, call in calls])
            raws: dict[str, float] = {}
            latest: dict[str, ScoreCard] = {}
            left: dict[str, set[str]] = {}
            for (chunk, _), result in zip(calls, results, strict=True):
                entries, lefts = cast(list[list[list[Any]]], result)
                for position, topics in lefts:
                    left.setdefault(chunk[position - 1].user_id, set()).update(topics.split(","))
                for entry in entries:
                    card = chunk[entry[0] - 1]
                    # Calls run in card order per slot, so a later applied card is newer.
                    raws[card.user_id] = float(card.raw)
                    latest[card.user_id] = card
                    outcome.count += 1
                    if len(entry) > 1:
                        previous, before, after, *replaced = entry[1:]
                        outcome.changes.append(
                            FeedChange(
                                card,
                                float(format_score(card.score)),
                                None if previous is None else float(previous),
                                int(before),
                                int(after),
                                _replaced_card(replaced),
                            )
                        )
            applied = outcome.count
            if applied:
                pipe = self._redis.pipeline(transaction=False)
                self.leaderboard.queue_set(pipe, raws)
                self.topic_boards.queue_cards(pipe, latest.values(), left)
                pipe.hset(self._keys.stats, "last_write_ms", str(time.time_ns() // 1_000_000))
                pipe.hincrby(self._keys.stats, "cards_applied", applied)
                await pipe.execute()
        return outcome

    def renew_feed_producer(self) -> None:
        """Mark records from now on under a new producer id, so the old id's read as lost.

        For a write that failed part way: Redis may have applied some of its cards, marking
        their records as this producer's though they were never sent. Under the new id the next
        write of those users makes the records again (and, as the old id's marks are never
        confirmed now, also repeats records that were sent: duplicates, never gaps).
        """
        if self._feed is not None:
            self._feed = replace(self._feed, producer_id=uuid.uuid4().hex)
            self._feed_arg = _feed_arg(self._feed)

    async def confirm_feed(self, delivered: Sequence[tuple[str, int]]) -> None:
        """Mark feed records as delivered: (user id, the record's `updated_at_ms`) pairs.

        A user whose record is not confirmed gets it again with the next write by another
        producer (after a crash, the replay's), so nothing is lost in between.
        """
        if self._feed is None or not delivered:
            return
        calls: list[ScriptCall] = [
            (
                [self._keys.user(user_id) for user_id, _ in chunk],
                [self._feed.producer_id, *(str(at) for _, at in chunk)],
            )
            for chunk in self._chunks(delivered, _user_of_pair)
        ]
        # Replaying a call after NOSCRIPT is safe: clearing a mark is idempotent.
        await run_script(self._redis, self._confirm_script, calls)

    def _chunks(self, items: Sequence[_T], user_of: Callable[[_T], str]) -> list[Sequence[_T]]:
        """Items in script calls: by the hash slot of their user's keys, `chunk_size` at most."""
        keys = self._keys
        return chunks_by_slot(
            self._redis, items, lambda item: keys.user(user_of(item)), self._chunk_size
        )

    def _encode_chunk(
        self, cards: Sequence[ScoreCard], fences: Mapping[str, int]
    ) -> tuple[Sequence[ScoreCard], ScriptCall]:
        """A chunk of cards as one call of write_cards.lua (its header says what each is); the
        kernel encodes the cards' rows."""
        keys = self._keys
        key_names: list[str] = []
        snapshot_keys: list[str] = []
        rows: list[tuple[ScoreCard, int, str, str, int, int]] = []
        for card in cards:
            if not (math.isfinite(card.score) and math.isfinite(card.raw)):
                raise ValueError(f"card for {card.user_id!r} has a non-finite score or raw")
            day, first_kept = _days(card.updated_at_ms // MS_PER_DAY)
            key_names.append(keys.user(card.user_id))
            key_names.append(keys.history(card.user_id))
            snapshot_keys.append(keys.snapshots(card.user_id))
            low, high = (
                (0, 0)
                if self._feed is None
                else _levels(format_score(card.score), self._feed.thresholds, self._feed.hysteresis)
            )
            rows.append((card, fences.get(card.user_id, 0), day, first_kept, low, high))
        args: list[str | bytes] = [
            keys.changes,
            str(HISTORY_TTL_S),
            self._feed_arg,
            clout_kernel.card_rows(rows),
        ]
        return cards, (key_names + snapshot_keys, args)
