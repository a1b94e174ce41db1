"""The decay sweep: re-score idle users whose visible score has decayed since it was written.

Every write schedules the user's next visible change (`next_refresh_ms`) in a per-partition due
index; each tick takes only what is due in the partitions this worker owns, so the cost follows
the number of visible changes, not the number of users. A tick interval under 5 minutes keeps
the stored score within 5 minutes of the exact decayed value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from app.kafka.score_feed import Cause
from app.scoring.model import NO_TOPIC_CURVES, Curve, ModelParams, TopicCurves
from app.step.score_update import score_update
from app.store.due import DueIndex
from streams import metrics
from streams.feed import FeedProducer
from streams.state import StateCache


class DecaySweep:
    """Re-scores due users of the owned partitions."""

    def __init__(
        self,
        *,
        states: StateCache,
        feed: FeedProducer,
        due: DueIndex,
        params: ModelParams,
        curve: Callable[[], Curve],
        topic_curves: Callable[[], TopicCurves] = lambda: NO_TOPIC_CURVES,
        batch_users: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._states = states
        self._feed = feed
        self._due = due
        self._params = params
        self._curve = curve
        self._topic_curves = topic_curves
        self._batch_users = batch_users
        self._clock = clock

    async def run_once(self, partitions: Iterable[int]) -> int:
        """Drain what is due now in `partitions`; returns how many users were re-scored."""
        now_ms = int(self._clock() * 1000)
        rescored = 0
        for partition in partitions:
            while True:
                users = await self._due.due(partition, now_ms, self._batch_users)
                rescored += await self._rescore(partition, users, now_ms, "decay")
                if len(users) < self._batch_users:
                    break
        metrics.SWEEP_RESCORED.inc(rescored)
        return rescored

    async def run_all(self, partitions: Iterable[int]) -> int:
        """Re-score every scheduled user of `partitions` (a curve refit); returns how many."""
        now_ms = int(self._clock() * 1000)
        rescored = 0
        for partition in partitions:
            async for users in self._due.scan(partition, self._batch_users):
                rescored += await self._rescore(partition, users, now_ms, "refit")
        metrics.SWEEP_RESCORED.inc(rescored)
        return rescored

    async def _rescore(self, partition: int, users: list[str], now_ms: int, cause: Cause) -> int:
        update = score_update(
            (
                (
                    partition,
                    user_id,
                    self._states.peek(user_id, partition).signals,
                )
                for user_id in users
            ),
            now_ms,
            self._params,
            self._curve(),
            self._topic_curves(),
        )
        fence = self._states.generation(partition)
        await self._feed.write(update.cards, cause, {card.user_id: fence for card in update.cards})
        await self._due.schedule(update.schedule)
        return len(update.cards)
