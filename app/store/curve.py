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
from app.scoring.curve import DEFAULT_CURVE, Curve, Population, fit_curve, quantile_ranks
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
        keys = RedisKeys(prefix)
        self._leaderboard = Leaderboard(redis, prefix, leaderboard_shards)
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
        (count,) = await self._leaderboard.count_above([active_floor_raw])
        if count == 0:
            return Population(0, 0.0, 0.0, 0.0)
        median, top5, top01 = [
            (await self._leaderboard.top(rank, 1))[0][0][1] for rank in quantile_ranks(count)
        ]
        return Population(count, median, top5, top01)

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
