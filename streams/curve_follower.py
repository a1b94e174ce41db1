"""The worker's side of the live curve: hold the current curve, follow refits, refit on schedule.

Every `follow_interval_s` a worker reads the stored curve's version (one HGET). When it changed,
the worker loads the new curve, scores everything from then on with it, and re-scores every
user of the partitions it owns (walking the sweep's due index, which holds every scored user),
so the hash's `score` mixes two curves only for the time of that walk (docs/scoring.md).

Every `refit_interval_s` each worker also tries the scheduled refit; the lock in Redis and the
age check make one refit per interval whatever the number of workers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from app.scoring.curve import DEFAULT_CURVE, Curve
from app.store.connection import STORE_ERRORS
from app.store.curve import CurveStore, RefitPolicy

log = logging.getLogger(__name__)
# A follow tick that meets these is skipped (the next tick catches up).
SKIPPED_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)


class CurveFollower:
    """The curve a worker scores with, kept in step with the stored one."""

    def __init__(
        self, store: CurveStore, rescore_all: Callable[[Iterable[int]], Awaitable[int]]
    ) -> None:
        """`rescore_all(partitions)` re-scores every user of them (the sweep's `run_all`)."""
        self._store = store
        self._rescore_all = rescore_all
        self._curve = DEFAULT_CURVE
        self._rescored_version = 0
        self._started = False

    def current(self) -> Curve:
        """The curve to score with now."""
        return self._curve

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
        except SKIPPED_ERRORS as exc:
            log.warning("score curve not loaded, default curve until Redis answers (%s)", exc)
        self._rescored_version = self._curve.version

    async def follow(self, owned: Iterable[int]) -> int:
        """Take up a new stored curve and re-score the owned users; returns how many."""
        if await self._store.version() != self._curve.version:
            self._curve = await self._store.load()
            log.info("score curve v%d taken up", self._curve.version)
        if self._rescored_version == self._curve.version:
            return 0
        version = self._curve.version
        started = time.perf_counter()
        rescored = await self._rescore_all(owned)
        self._rescored_version = version
        took = time.perf_counter() - started
        log.info("re-scored %d users on curve v%d in %.2f s", rescored, version, took)
        return rescored

    async def refit_if_due(self, policy: RefitPolicy, interval_s: float) -> None:
        """The scheduled refit, when the stored curve is older than `interval_s`."""
        # A timer fires a little early or late; 90% keeps one refit per interval.
        refit = await self._store.refit(policy, older_than_ms=int(interval_s * 900))
        if refit is not None:
            log.info("refitted the score curve: %s", refit.summary())
