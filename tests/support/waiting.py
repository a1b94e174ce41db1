"""Polling with a deadline, instead of fixed sleeps standing in for assertions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    deadline_s: float = 60.0,
    interval_s: float = 0.2,
    what: str = "condition",
) -> T:
    """Call `check` until it returns something other than None/False; fail at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval_s)
