"""Where the live score curve lives in Redis, how the population is read, and the refit itself.

Keys (docs/redis.md): `{prefix}:curve` is a hash with `version` and `curve` (the Curve as JSON),
written in one HSET so a reader never sees one without the other; `{prefix}:curve:versions` is
the INCR counter that numbers refits; `{prefix}:curve:history` holds the last refits' summaries
(newest first); `{prefix}:curve:lock` makes one process fit at a time (redis-py's Lock: SET NX PX
with a token, released only by its holder).

The population is the leaderboard's users with raw above the active floor; the fit needs their
count (ZCOUNT) and the raw at three ranks (one pipelined ZREVRANGE each), so a refit costs the
same at 100 or 10 million users.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson

from app.core.settings import Settings
from app.scoring.curve import (
    DEFAULT_CURVE,
    NO_TOPIC_CURVES,
    Curve,
    Population,
    TopicCurves,
    fit_curve,
    quantile_ranks,
)
from app.store.connection import RedisClient
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard

LOCK_TIMEOUT_S = 30.0
"""A crashed fitter's lock expires after this; a fit takes milliseconds."""


@dataclass(frozen=True, slots=True)
class RefitPolicy:
    """The settings a refit follows (`Settings.curve`)."""

    max_step: float
    min_population: int
    active_floor_raw: float
    history: int

    @classmethod
    def of(cls, settings: Settings) -> RefitPolicy:
        """The policy configured by `CLOUT_CURVE__*`."""
        c = settings.curve
        return cls(c.max_step, c.min_population, c.active_floor_raw, c.history)


@dataclass(frozen=True, slots=True)
class TopicRefitPolicy:
    """The settings a topic refit follows (`Settings.topics`, and the curve's step and floor)."""

    max_step: float
    min_population: int
    max_curves: int
    active_floor_raw: float

    @classmethod
    def of(cls, settings: Settings) -> TopicRefitPolicy:
        """The policy configured by `CLOUT_TOPICS__*` and `CLOUT_CURVE__*`."""
        t, c = settings.topics, settings.curve
        return cls(c.max_step, t.min_population, t.max_curves, c.active_floor_raw)


async def board_population(board: Leaderboard, active_floor_raw: float) -> Population:
    """A board's active users' count and the raw at the median, top 5% and top 0.1% ranks."""
    (count,) = await board.count_above([active_floor_raw])
    if count == 0:
        return Population(0, 0.0, 0.0, 0.0)
    median, top5, top01 = [(await board.top(rank, 1))[0][0][1] for rank in quantile_ranks(count)]
    return Population(count, median, top5, top01)


@dataclass(frozen=True, slots=True)
class Refit:
    """What one refit did: the curve before and after, whether in full, and how long it took."""

    previous: Curve
    curve: Curve
    full: bool
    took_ms: float

    def summary(self) -> dict[str, object]:
        """The history entry: the new curve without its score table, and how it was applied."""
        entry = self.curve.to_dict()
        del entry["scores"]
        return entry | {
            "previous_version": self.previous.version,
            "full": self.full,
            "took_ms": round(self.took_ms, 3),
        }


class CurveStore:
    """Reads and writes the live curve under one key prefix."""

    def __init__(
        self, redis: RedisClient, prefix: str, leaderboard_shards: int | None = None
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        keys = RedisKeys(prefix)
        self._leaderboard = Leaderboard(redis, prefix, leaderboard_shards)
        self._topic_curves = keys.topic_curves
        self._topics = keys.topics
        self._curve = keys.curve
        self._versions = keys.curve_versions
        self._history = keys.curve_history
        self._lock = keys.curve_lock

    async def version(self) -> int:
        """The stored curve's version (0: none stored, the default curve applies)."""
        value = await self._redis.hget(self._curve, "version")
        return 0 if value is None else int(value)

    async def load(self) -> Curve:
        """The stored curve, or the default curve when none is stored."""
        value = await self._redis.hget(self._curve, "curve")
        return DEFAULT_CURVE if value is None else Curve.from_dict(orjson.loads(value))

    async def history(self, limit: int = 24) -> list[dict[str, object]]:
        """The last refits, newest first."""
        rows = await self._redis.lrange(self._history, 0, limit - 1)
        return [orjson.loads(row) for row in rows]

    async def population(self, active_floor_raw: float) -> Population:
        """The active users' count and the raw at the median, top 5% and top 0.1% ranks."""
        return await board_population(self._leaderboard, active_floor_raw)

    async def versions(self) -> tuple[int, int]:
        """(the stored curve's version, the topic curves' version): one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(self._curve, "version")
        pipe.hget(self._topic_curves, "_version")
        curve, topics = await pipe.execute()
        return int(curve or 0), int(topics or 0)

    async def load_topics(self) -> TopicCurves:
        """The topics' own curves (none stored: every topic on the global curve)."""
        fields = await self._redis.hgetall(self._topic_curves)
        if not fields:
            return NO_TOPIC_CURVES
        version = int(fields.pop("_version", 0))
        fields.pop("_fitted_at_ms", None)
        curves = {str(t): Curve.from_dict(orjson.loads(value)) for t, value in fields.items()}
        return TopicCurves(version, curves)

    async def refit_topics(
        self, policy: TopicRefitPolicy, *, older_than_ms: int | None = None
    ) -> TopicCurves | None:
        """Fit the topics' own curves: the `max_curves` live topics with the most active users
        on their boards, those with at least `min_population`, each graded on its board like the
        global curve on the leaderboard and moved at most `max_step` from its previous curve.
        Topics that no longer qualify lose their curve. None when another process holds the
        lock or the topic curves are younger than `older_than_ms`."""
        lock = self._redis.lock(self._lock, timeout=LOCK_TIMEOUT_S, blocking=False)
        if not await lock.acquire():
            return None
        try:
            now_ms = time.time_ns() // 1_000_000
            fitted_at = await self._redis.hget(self._topic_curves, "_fitted_at_ms")
            if older_than_ms is not None and fitted_at and now_ms - int(fitted_at) < older_than_ms:
                return None
            previous = await self.load_topics()
            live = [str(topic) for topic in await self._redis.zrange(self._topics, 0, -1)]
            shards = self._leaderboard.shards
            boards = {
                topic: Leaderboard(self._redis, self._prefix, shards, topic=topic) for topic in live
            }
            pipe = self._redis.pipeline(transaction=False)
            for board in boards.values():
                for key in board.keys:
                    pipe.zcount(key, f"({policy.active_floor_raw!r}", "+inf")
            counts = [int(n) for n in await pipe.execute()]
            sizes = {
                topic: sum(counts[i * shards : (i + 1) * shards]) for i, topic in enumerate(live)
            }
            chosen = sorted(
                (t for t, n in sizes.items() if n >= policy.min_population),
                key=lambda t: (-sizes[t], t),
            )[: policy.max_curves]
            curves: dict[str, Curve] = {}
            for topic in chosen:
                before = previous.get(topic) or DEFAULT_CURVE
                curves[topic] = fit_curve(
                    await board_population(boards[topic], policy.active_floor_raw),
                    before,
                    version=before.version + 1,
                    fitted_at_ms=now_ms,
                    max_step=policy.max_step,
                    min_population=policy.min_population,
                )
            gone = [topic for topic in previous.curves if topic not in curves]
            pipe = self._redis.pipeline(transaction=True)
            if gone:
                pipe.hdel(self._topic_curves, *gone)
            if curves:
                pipe.hset(
                    self._topic_curves,
                    mapping={t: orjson.dumps(c.to_dict()) for t, c in curves.items()},
                )
            pipe.hset(self._topic_curves, "_fitted_at_ms", now_ms)
            if curves or gone:  # a new version makes every worker re-score its users
                pipe.hincrby(self._topic_curves, "_version", 1)
            *_, version = await pipe.execute()
            return TopicCurves(int(version) if curves or gone else previous.version, curves)
        finally:
            await lock.release()

    async def refit(
        self, policy: RefitPolicy, *, full: bool = False, older_than_ms: int | None = None
    ) -> Refit | None:
        """Fit and store the next curve; None when another process holds the lock, when the
        stored curve is younger than `older_than_ms`, or when a deployment without a fitted
        curve still has fewer active users than the minimum (the default curve stays)."""
        lock = self._redis.lock(self._lock, timeout=LOCK_TIMEOUT_S, blocking=False)
        if not await lock.acquire():
            return None
        try:
            started = time.perf_counter()
            now_ms = time.time_ns() // 1_000_000
            previous = await self.load()
            if (
                older_than_ms is not None
                and previous.version > 0
                and now_ms - previous.fitted_at_ms < older_than_ms
            ):
                return None
            population = await self.population(policy.active_floor_raw)
            if previous.version == 0 and population.count < policy.min_population:
                return None
            version = max(int(await self._redis.incr(self._versions)), previous.version + 1)
            curve = fit_curve(
                population,
                previous,
                version=version,
                fitted_at_ms=now_ms,
                max_step=policy.max_step,
                min_population=policy.min_population,
                full=full,
            )
            in_full = full or previous.version == 0
            refit = Refit(previous, curve, in_full, (time.perf_counter() - started) * 1000)
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(
                self._curve,
                mapping={"version": version, "curve": orjson.dumps(curve.to_dict())},
            )
            pipe.lpush(self._history, orjson.dumps(refit.summary()))
            pipe.ltrim(self._history, 0, policy.history - 1)
            await pipe.execute()
            return refit
        finally:
            await lock.release()
