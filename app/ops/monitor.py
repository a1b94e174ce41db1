"""The background poller behind the dashboard: Kafka and Redis every few seconds, one cache.

Everything that serves figures (the page, its live stream, `/ops/lag`, `/metrics`) reads the
cached snapshot, so the number of viewers or scrapers never changes the load on Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from app.core.settings import Settings
from app.ops.tracker import HistoryPoint, LagTracker, Observation, Snapshot
from app.store.connection import RedisClient, redis_from_settings
from app.store.health import RedisHealth, probe_redis

log = logging.getLogger(__name__)


class ObservationSource(Protocol):
    """Where observations come from: `KafkaLagCollector` in production, fakes in tests."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def collect(self) -> Observation: ...


class OpsMonitor:
    """Polls on a timer, keeps the latest snapshot and the chart history, wakes live streams."""

    def __init__(
        self,
        settings: Settings,
        *,
        source: ObservationSource | None = None,
        redis: RedisClient | None = None,
    ) -> None:
        self.settings = settings
        self.tracker = LagTracker(
            group=settings.app_id,
            input_topics=settings.input_topics,
            dead_letter_topic=settings.topic_dead_letters,
            poll_interval_s=settings.ops_poll_interval_s,
            window_s=settings.ops_status_window_s,
            rate_window_s=settings.ops_rate_window_s,
            history_s=settings.ops_history_s,
            allowed_lag=settings.ops_allowed_lag,
        )
        if source is None:
            from app.ops.collector import KafkaLagCollector

            source = KafkaLagCollector(settings)
        self._source = source
        self._source_started = False
        self._redis = redis
        self._own_redis = redis is None
        self._task: asyncio.Task[None] | None = None
        self._version = 0
        self._updated = asyncio.Event()
        self._stopped = False

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot; reading it never touches Kafka or Redis."""
        return self.tracker.snapshot

    @property
    def version(self) -> int:
        """Increases by one with every poll, so streams can tell a new snapshot from an old one."""
        return self._version

    @property
    def running(self) -> bool:
        """Is the polling loop alive?"""
        return self._task is not None and not self._task.done()

    def history(self) -> list[HistoryPoint]:
        """Chart points of the last `ops_history_s` seconds."""
        return self.tracker.history()

    def document(self, *, history: bool = True) -> dict[str, Any]:
        """The `/ops/lag` JSON: the snapshot, plus the chart history or just its newest point."""
        doc = self.snapshot.to_dict()
        points = self.tracker.history()
        if history:
            doc["history"] = [point.as_list() for point in points]
        else:
            doc["point"] = points[-1].as_list() if points else None
        return doc

    async def start(self) -> None:
        """Start polling in the background; the first poll begins at once."""
        if self.running:
            return
        self._stopped = False
        if self._redis is None:
            timeout = self.settings.ops_kafka_timeout_s
            self._redis = redis_from_settings(
                self.settings, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self._task = asyncio.create_task(self._run(), name="ops-monitor")

    async def stop(self) -> None:
        """Stop polling, close connections and release every waiting stream."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._source_started:
            self._source_started = False
            with contextlib.suppress(Exception):
                await self._source.stop()
        if self._own_redis and self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()
        self._publish()

    async def wait_for_update(self, seen_version: int, max_wait_s: float) -> int:
        """Wait until a poll newer than `seen_version` finishes (or `max_wait_s`, or stop)."""
        if self._version != seen_version or self._stopped:
            return self._version
        event = self._updated
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max_wait_s)
        return self._version

    @property
    def stopped(self) -> bool:
        """Has `stop()` been called (streams end then)."""
        return self._stopped

    async def poll_once(self) -> Snapshot:
        """Poll Kafka and Redis concurrently and fold the results into a new snapshot."""
        observation, health = await asyncio.gather(self._collect(), self._probe_redis())
        now_ms = int(time.time() * 1000)
        if isinstance(observation, Observation):
            snapshot = self.tracker.observe(observation, health)
        else:
            snapshot = self.tracker.observe_failure(now_ms, observation, health)
        self._publish()
        return snapshot

    async def _run(self) -> None:
        interval = self.settings.ops_poll_interval_s
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self.poll_once()
            except Exception:  # a bug must not kill the dashboard: log it and poll again
                log.exception("ops poll failed")
            await asyncio.sleep(max(0.0, interval - (loop.time() - began)))

    async def _collect(self) -> Observation | str:
        """An observation, or the reason Kafka could not be read."""
        try:
            async with asyncio.timeout(self.settings.ops_kafka_timeout_s * 1.5):
                if not self._source_started:
                    await self._source.start()
                    self._source_started = True
                return await self._source.collect()
        except Exception as exc:
            text = str(exc)
            reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            log.warning("ops: Kafka poll failed: %s", reason)
            if not self._source_started:
                with contextlib.suppress(Exception):
                    await self._source.stop()
            return reason

    async def _probe_redis(self) -> RedisHealth | None:
        if self._redis is None:
            return None
        try:
            async with asyncio.timeout(self.settings.ops_kafka_timeout_s):
                return await probe_redis(
                    self._redis,
                    self.settings.redis_key_prefix,
                    leaderboard_shards=self.settings.leaderboard_shards,
                )
        except TimeoutError:
            return RedisHealth(False, None, None, None, "TimeoutError: no answer from Redis")

    def _publish(self) -> None:
        self._version += 1
        event, self._updated = self._updated, asyncio.Event()
        event.set()
