"""A blocking facade over ScoreClient for code without an event loop (scripts, WSGI apps).

The async client runs on a private event loop in a daemon thread; each call hands a coroutine to
that loop and waits for its result. One SyncScoreClient is safe to share between threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, Self, TypeVar

from app.core.lifecycle import Closing
from app.core.settings import Settings, get_settings
from app.scoring.attribution import Attribution
from app.scoring.card import ScoreCard
from app.store.client import ChangeFeed, ScoreClient
from app.store.keys import HISTORY_DAYS
from app.store.models import DailyScore, LeaderboardEntry, ScoreChange, UserScore
from app.store.topics import InfluencerPage, InfluencerQuery, TopicEntry
from app.store.windows import Since

T = TypeVar("T")


class SyncScoreClient(Closing):
    """Blocking twin of ScoreClient; close it with `close()` or ``with``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        factory: Callable[[], ScoreClient] | None = None,
        timeout_s: float | None = 30.0,
    ) -> None:
        """Connect with `settings` (default: the environment), or `factory` if given.

        `timeout_s` bounds every call; None waits forever.
        """
        resolved = settings or get_settings()
        make = factory or (lambda: ScoreClient.from_settings(resolved))
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="clout-score-client", daemon=True
        )
        self._thread.start()
        self._closed = False

        async def build() -> ScoreClient:
            return make()

        self._client = self._call(build())

    def _call(self, coro: Coroutine[Any, Any, T], *, wait_forever: bool = False) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("SyncScoreClient is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(None if wait_forever else self._timeout_s)

    def get(self, user_id: str) -> UserScore | None:
        """See ScoreClient.get."""
        return self._call(self._client.get(user_id))

    def get_many(self, user_ids: Sequence[str]) -> dict[str, UserScore | None]:
        """See ScoreClient.get_many."""
        return self._call(self._client.get_many(user_ids))

    def top(self, limit: int = 10, offset: int = 0) -> list[LeaderboardEntry]:
        """See ScoreClient.top."""
        return self._call(self._client.top(limit, offset))

    def topic_top(
        self, topic: str, limit: int = 10, offset: int = 0
    ) -> tuple[list[TopicEntry], int]:
        """See ScoreClient.topic_top."""
        return self._call(self._client.topic_top(topic, limit, offset))

    def find(self, query: InfluencerQuery, cursor: str | None = None) -> InfluencerPage:
        """See ScoreClient.find."""
        return self._call(self._client.find(query, cursor))

    def history(self, user_id: str, days: int = HISTORY_DAYS) -> list[DailyScore]:
        """See ScoreClient.history."""
        return self._call(self._client.history(user_id, days))

    def attribution(self, user_id: str, since: Since) -> Attribution | None:
        """See ScoreClient.attribution."""
        return self._call(self._client.attribution(user_id, since))

    def explain(self, user_id: str) -> ScoreCard | None:
        """See ScoreClient.explain."""
        return self._call(self._client.explain(user_id))

    def changes(self) -> SyncChangeFeed:
        """See ScoreClient.changes; use ``with`` to be subscribed before iterating."""
        return SyncChangeFeed(self, self._client.changes())

    def close(self) -> None:
        """Close the async client, stop the private loop and join its thread."""
        if self._closed:
            return
        try:
            self._call(self._client.aclose())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


class SyncChangeFeed(Closing):
    """Blocking iterator of ScoreChange notifications; each `next()` waits for one."""

    def __init__(self, owner: SyncScoreClient, feed: ChangeFeed) -> None:
        self._owner = owner
        self._feed = feed

    def subscribe(self) -> None:
        """Subscribe and wait for Redis to confirm."""
        self._owner._call(self._feed.subscribe())  # noqa: SLF001  # its owner's loop

    def __iter__(self) -> Iterator[ScoreChange]:
        return self

    def __next__(self) -> ScoreChange:
        # No call timeout: waiting for the next change may legitimately take forever.
        return self._owner._call(self._feed.__anext__(), wait_forever=True)  # noqa: SLF001

    def close(self) -> None:
        """Unsubscribe and release the pub/sub connection."""
        self._owner._call(self._feed.aclose())  # noqa: SLF001  # its owner's loop

    def __enter__(self) -> Self:
        self.subscribe()
        return self
