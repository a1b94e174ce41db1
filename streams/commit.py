"""The commit protocol: what must be durable, in which order, before Kafka records an offset.

An offset Kafka records is a promise that every effect of the messages before it is durable: in
Redis, in the signal table and its changelog, and in the feed and dead-letter topics.
`Checkpoint.commit` keeps that promise in one place, the way Quix Streams' `Checkpoint.commit`
does; Faust calls it whenever it commits (the worker consumer's `_commit_offsets`,
streams/faust_compat.py), with the offsets its commit guard chose: each was acknowledged, so its
effects are among what steps 0 and 1 write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from faust.types import TP


class CommitTarget(Protocol):
    """The consumer side of a commit (the worker consumer)."""

    async def flush_producer(self) -> None:
        """Return once every record handed to the producer so far is on the broker."""

    async def commit_assigned(self, offsets: Mapping[TP, int]) -> bool:
        """Commit `offsets` of the partitions still assigned; whether Kafka accepted it."""


class ChangelogPositions(Protocol):
    """A table whose local changelog position moves only when a commit confirms it
    (`faust_compat.FencedTable`)."""

    def unconfirmed_offsets(self) -> dict[TP, int]:
        """Per changelog partition, the last record the broker has and no commit confirmed."""

    def confirm(self, offsets: dict[TP, int]) -> None:
        """Record `offsets` as the local store's changelog position."""


class Checkpoint:
    """Commits offsets only behind the state, the changelog and the side outputs they produced."""

    def __init__(
        self,
        settle_scores: Callable[[], Awaitable[object]],
        flush_state: Callable[[], Awaitable[object]],
        tables: Iterable[ChangelogPositions],
    ) -> None:
        """`settle_scores`: returns once the acknowledged batches' score writes are in Redis
        and their feed records handed to the producer (`BatchScorer.settle`)."""
        self._settle_scores = settle_scores
        self._flush_state = flush_state
        self._tables = list(tables)

    async def commit(self, target: CommitTarget, offsets: Mapping[TP, int]) -> bool:
        """Make the effects of `offsets` durable, commit them, then move the changelog position.

        Returns whether Kafka accepted the commit. An exception in steps 0-2 means no commit:
        Kafka delivers those messages again and the applied-offset watermark makes the replay
        change nothing.
        """
        # 0. The score write still in flight behind the agent (streams/executor.py): its cards
        #    in Redis, its feed records queued with the producer for step 2 to flush.
        await self._settle_scores()
        # 1. Flush the write-behind state: every changed user into the table, and its changelog
        #    records sent and acknowledged by the broker (`StateCache.flush`).
        await self._flush_state()
        # 2. Produce and wait for acks: Faust's queued records (send_soon) handed to aiokafka,
        #    then aiokafka flushed, so the feed and dead letters of these offsets are durable.
        await target.flush_producer()
        # 3. Note the changelog positions the broker has acknowledged so far: this commit will
        #    vouch for them (records acknowledged during the commit wait for the next one).
        positions = [(table, table.unconfirmed_offsets()) for table in self._tables]
        # 4. Commit the offsets. The group coordinator accepts it only from a current member,
        #    so success proves this worker still owned the partitions when it wrote step 1.
        if not await target.commit_assigned(offsets):
            return False
        # 5. Record the changelog positions in the local stores: a restore on this worker starts
        #    after them. Never before step 4: a worker paused past its session (a zombie) must
        #    not skip the new owner's records (docs/guarantees.md, "Fencing a paused worker").
        for table, confirmed in positions:
            table.confirm(confirmed)
        return True
