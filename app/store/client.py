"""The read client services use to look up scores: async, typed, one round trip per lookup."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Self, cast

from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub

from app.core.lifecycle import AsyncClosing
from app.core.settings import Settings
from app.scoring.attribution import Attribution, attribute
from app.scoring.card import ScoreCard
from app.scoring.params import ModelParams
from app.store.connection import RedisClient, redis_from_settings
from app.store.curve import CurveStore
from app.store.keys import HISTORY_DAYS, RedisKeys, history_window, utc_day
from app.store.leaderboard import Leaderboard
from app.store.models import (
    CorruptRecord,
    CurveChanging,
    DailyScore,
    LeaderboardEntry,
    NoSnapshot,
    ScoreChange,
    UserScore,
    leaderboard_entries,
    parse_change,
    parse_explanation,
    parse_history,
    parse_snapshots,
    parse_user_score,
)
from app.store.topics import InfluencerPage, InfluencerQuery, TopicEntry, TopicReader
from app.store.windows import Since

log = logging.getLogger(__name__)

MAX_LEADERBOARD_LIMIT = 1000


class ScoreClient(AsyncClosing):
    """Async reader of the key schema in docs/redis.md.

    Use one per process (it holds a connection pool) and close it with `aclose()` or
    ``async with``. `get()` and `get_many()` are single pipelined round trips on a one-shard
    leaderboard, and two on a sharded one (the second counts users above the user's raw).
    """

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        *,
        owns_redis: bool = True,
        leaderboard_shards: int | None = None,
        params: ModelParams | None = None,
    ) -> None:
        """`params`: the model the worker scores with (half-lives for `attribution`)."""
        self._redis = redis
        self._params = params or ModelParams()
        self._keys = RedisKeys(prefix)
        self._owns_redis = owns_redis
        self.leaderboard = Leaderboard(redis, prefix, leaderboard_shards)
        self.topics = TopicReader(redis, prefix, self.leaderboard)

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoreClient:
        """A client with its own connection pool, configured from Settings."""
        return cls(
            redis_from_settings(settings),
            settings.redis_key_prefix,
            leaderboard_shards=settings.leaderboard_shards,
            params=settings.model_params(),
        )

    @property
    def keys(self) -> RedisKeys:
        """The key names this client reads."""
        return self._keys

    @property
    def curves(self) -> CurveStore:
        """The live score curve (read: `load`, `history`; the worker and `clout curve` refit)."""
        return CurveStore(self._redis, self._keys.prefix, self.leaderboard.shards)

    async def get(self, user_id: str) -> UserScore | None:
        """The user's score and standing, or None if the user has no score."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._keys.user(user_id))
        self.leaderboard.queue_standing(pipe, [user_id])
        replies: list[Any] = await pipe.execute()
        ranks, ranked = await self.leaderboard.standings_from([user_id], replies[1:])
        return parse_user_score(user_id, replies[0], ranks[0], ranked)

    async def get_many(self, user_ids: Sequence[str]) -> dict[str, UserScore | None]:
        """Scores of several users (None for unknown ones), in one round trip; input order kept."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for user_id in unique:
            pipe.hgetall(self._keys.user(user_id))
        self.leaderboard.queue_standing(pipe, unique)
        replies: list[Any] = await pipe.execute()
        n = len(unique)
        ranks, ranked = await self.leaderboard.standings_from(unique, replies[n:])
        return {
            user_id: parse_user_score(user_id, replies[i], ranks[i], ranked)
            for i, user_id in enumerate(unique)
        }

    async def top(self, limit: int = 10, offset: int = 0) -> list[LeaderboardEntry]:
        """Leaderboard rows ranked `offset + 1` .. `offset + limit`, highest raw first."""
        _check_page(limit, offset)
        members, ranked = await self.leaderboard.top(offset, limit)
        if not members:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for user_id, _ in members:
            pipe.hget(self._keys.user(user_id), "score")
        scores: list[str | None] = await pipe.execute()
        return leaderboard_entries(members, scores, offset, ranked)

    async def topic_top(
        self, topic: str, limit: int = 10, offset: int = 0
    ) -> tuple[list[TopicEntry], int]:
        """The topic's leaderboard rows ranked `offset + 1` .. `offset + limit` by topic raw,
        and how many users its board ranks. ValueError for a topic that is not a slug."""
        _check_page(limit, offset)
        return await self.topics.top(topic, limit, offset)

    async def find(self, query: InfluencerQuery, cursor: str | None = None) -> InfluencerPage:
        """The campaign query: the next users passing every filter of `query`, in board order,
        after reading at most `topics.SCAN_BUDGET` candidates; pass `next_cursor` to continue."""
        return await self.topics.find(query, cursor)

    async def size(self) -> int:
        """How many users are ranked."""
        return await self.leaderboard.size()

    async def exists(self, user_id: str) -> bool:
        """Whether the user has a score."""
        return bool(await self._redis.exists(self._keys.user(user_id)))

    async def history(
        self, user_id: str, days: int = HISTORY_DAYS, *, now_ms: int | None = None
    ) -> list[DailyScore]:
        """The user's last score of each of the last `days` UTC days (today included) that had
        one, oldest first; empty for an unknown user. `now_ms` fixes "today" (default: now)."""
        if not 1 <= days <= HISTORY_DAYS:
            raise ValueError(f"days must be within 1..{HISTORY_DAYS}")
        today = utc_day(time.time_ns() // 1_000_000 if now_ms is None else now_ms)
        first, last = history_window(today, days)
        fields = cast(dict[str, str], await self._redis.hgetall(self._keys.history(user_id)))
        return parse_history(fields, first, last)

    async def attribution(
        self, user_id: str, since: Since, *, now_ms: int | None = None
    ) -> Attribution | None:
        """Why the user's score moved since `since` (app/scoring/attribution.py); None for an
        unknown user. Raises `NoSnapshot` when the history has no snapshot to start from and
        `CurveChanging` when the card is not on the live curve (a refit being taken up)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._keys.user(user_id))
        pipe.hgetall(self._keys.snapshots(user_id))
        user_fields, snapshot_fields = cast(list[dict[str, str]], await pipe.execute())
        card = parse_explanation(user_id, user_fields)
        if card is None:
            return None
        now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        start = since.pick(parse_snapshots(user_id, snapshot_fields), now_ms)
        if start is None:
            raise NoSnapshot(f"no daily snapshot of {user_id!r} to start {since.text!r} from")
        curve = await self.curves.load()
        if curve.version != card.curve_version:
            raise CurveChanging(
                f"the card of {user_id!r} is on curve {card.curve_version}, the live curve is "
                f"{curve.version}: a refit is being taken up, retry in a few seconds"
            )
        return attribute(start[1], card, self._params, curve)

    async def explain(self, user_id: str) -> ScoreCard | None:
        """Where the user's score comes from, or None if the user has no score."""
        fields = cast(dict[str, str], await self._redis.hgetall(self._keys.user(user_id)))
        return parse_explanation(user_id, fields)

    def changes(self) -> ChangeFeed:
        """A feed of visible-score changes; ``async with`` it to be subscribed before iterating.

        Pub/sub is fire-and-forget: changes published while no feed is subscribed are not
        replayed, so use it to refresh caches, not as a record of every change.
        """
        return ChangeFeed(self._redis, self._keys.changes)

    async def ping(self) -> bool:
        """Whether Redis answers (raises the connection error if it does not)."""
        return bool(await self._redis.ping())

    async def aclose(self) -> None:
        """Release the connection pool (if this client created it)."""
        if self._owns_redis:
            await self._redis.aclose()


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LEADERBOARD_LIMIT:
        raise ValueError(f"limit must be within 1..{MAX_LEADERBOARD_LIMIT}")
    if offset < 0:
        raise ValueError("offset must not be negative")


class ChangeFeed(AsyncClosing):
    """Async iterator of ScoreChange notifications from the changes channel."""

    def __init__(self, redis: RedisClient, channel: str) -> None:
        self._redis = redis
        self._pubsub: PubSub | ClusterPubSub = redis.pubsub()
        self._channel = channel
        self._subscribed = False

    async def subscribe(self) -> None:
        """Subscribe and wait for Redis to confirm, so no later change is missed."""
        if self._subscribed:
            return
        if isinstance(self._redis, RedisCluster):
            # The cluster client learns the slot map on first use; pub/sub needs it already.
            await self._redis.initialize()
        await self._pubsub.subscribe(self._channel)
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is not None and message["type"] == "subscribe":
                break
        self._subscribed = True

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ScoreChange:
        await self.subscribe()
        while True:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is None or message["type"] != "message":
                continue
            try:
                return parse_change(message["data"])
            except CorruptRecord:
                log.warning("ignoring a malformed message on %s", self._channel, exc_info=True)

    async def aclose(self) -> None:
        """Unsubscribe and release the pub/sub connection."""
        await self._pubsub.aclose()

    async def __aenter__(self) -> Self:
        await self.subscribe()
        return self
