"""The worker's side of the live curve: hold the current curve, follow refits, refit on schedule.

Every `follow_interval_s` a worker reads the stored curve's version (one HGET). When it changed,
the worker loads the new curve, scores everything from then on with it, and re-scores every
user of the partitions it owns (walking the sweep's due index, which holds every scored user),
so the hash's `score` mixes two curves only for the time of that walk (docs/scoring.md).

Every `refit_interval_s` each worker also tries the scheduled refit; the lock in Redis and the
age check make one refit per interval whatever the number of workers.

The topics' own curves (#31) are followed the same way: their version is read in the same round
trip, a new one is loaded and re-scores the owned users, and the scheduled refit also refits them
and removes the topics that faded out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from app.scoring.curve import DEFAULT_CURVE, NO_TOPIC_CURVES, Curve, TopicCurves
from app.store.connection import STORE_ERRORS
from app.store.curve import CurveStore, RefitPolicy, TopicRefitPolicy
from app.store.topic_boards import TopicBoards

log = logging.getLogger(__name__)
# A follow tick that meets these is skipped (the next tick catches up).
SKIPPED_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)


@dataclass(frozen=True, slots=True)
class TopicUpkeep:
    """What the scheduled refit does for topics: remove those no card listed for
    `retention_ms`, then refit the topics' own curves by `policy`."""

    policy: TopicRefitPolicy
    boards: TopicBoards
    retention_ms: int


class CurveFollower:
    """The curve a worker scores with, kept in step with the stored one."""

    def __init__(
        self, store: CurveStore, rescore_all: Callable[[Iterable[int]], Awaitable[int]]
    ) -> None:
        """`rescore_all(partitions)` re-scores every user of them (the sweep's `run_all`)."""
        self._store = store
        self._rescore_all = rescore_all
        self._curve = DEFAULT_CURVE
        self._topics = NO_TOPIC_CURVES
        self._rescored_versions = (0, 0)
        self._started = False

    def current(self) -> Curve:
        """The curve to score with now."""
        return self._curve

    def topic_curves(self) -> TopicCurves:
        """The topics' own curves to score with now."""
        return self._topics

    def _versions(self) -> tuple[int, int]:
        return self._curve.version, self._topics.version

    async def start(self) -> None:
        """Load the stored curve before the first batch (cards it made are assumed current).

        Only the first call loads; later ones (an agent that starts again) change nothing.

        With Redis down the worker starts on the default curve; `follow` then takes the stored
        one up and re-scores, as after any refit.
        """
        if self._started:
            return  # the agent started again: keep a pending re-score
        self._started = True
        try:
            self._curve = await self._store.load()
            self._topics = await self._store.load_topics()
        except SKIPPED_ERRORS as exc:
            log.warning("score curve not loaded, default curve until Redis answers (%s)", exc)
        self._rescored_versions = self._versions()

    async def follow(self, owned: Iterable[int]) -> int:
        """Take up a new stored curve or new topic curves and re-score the owned users; returns
        how many."""
        version, topics_version = await self._store.versions()
        if version != self._curve.version:
            self._curve = await self._store.load()
            log.info("score curve v%d taken up", self._curve.version)
        if topics_version != self._topics.version:
            self._topics = await self._store.load_topics()
            log.info("topic curves v%d taken up", self._topics.version)
        versions = self._versions()
        if self._rescored_versions == versions:
            return 0
        started = time.perf_counter()
        rescored = await self._rescore_all(owned)
        self._rescored_versions = versions
        took = time.perf_counter() - started
        log.info("re-scored %d users on curves v%d/%d in %.2f s", rescored, *versions, took)
        return rescored

    async def refit_if_due(
        self,
        policy: RefitPolicy,
        interval_s: float,
        topics: TopicUpkeep | None = None,
    ) -> None:
        """The scheduled refit, when the stored curve is older than `interval_s`; with `topics`
        also the topic curves' refit, after the topics that faded out are removed."""
        # A timer fires a little early or late; 90% keeps one refit per interval.
        older_than_ms = int(interval_s * 900)
        refit = await self._store.refit(policy, older_than_ms=older_than_ms)
        if refit is not None:
            log.info("refitted the score curve: %s", refit.summary())
        if topics is None:
            return
        removed = await topics.boards.remove_faded(time.time_ns() // 1_000_000, topics.retention_ms)
        if removed:
            log.info("removed %d faded topics", len(removed))
        fitted = await self._store.refit_topics(topics.policy, older_than_ms=older_than_ms)
        if fitted is not None:
            log.info("refitted %d topic curves (v%d)", len(fitted.curves), fitted.version)
