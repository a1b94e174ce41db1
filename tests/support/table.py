"""A recording stand-in for the worker's table (streams.state.TableAccess)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class RecordingTable:
    """A TableAccess fake (a dict per partition) that records every write and every changelog
    record delivered; `during_delivery` runs while a delivery waits for the "broker"."""

    def __init__(self) -> None:
        self.data: dict[tuple[int, bytes], bytes] = {}
        self.writes: list[tuple[int, str]] = []
        self.queued: list[tuple[int, str]] = []
        self.delivered: list[tuple[int, str]] = []
        self.during_delivery: Callable[[], None] | None = None
        self.reads = 0

    def read(self, partition: int, key: bytes) -> bytes | None:
        self.reads += 1
        return self.data.get((partition, key))

    def write(self, partition: int, key: bytes, value: bytes) -> None:
        self.data[(partition, key)] = value
        self.writes.append((partition, key.decode()))
        self.queued.append((partition, key.decode()))

    async def deliver(self) -> None:
        sending, self.queued = self.queued, []
        await asyncio.sleep(0)
        if self.during_delivery is not None:
            self.during_delivery()
        self.delivered.extend(sending)
