"""The ops monitor under test, polling with the test's settings (each module sets `settings`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.ops.monitor import OpsMonitor
from app.settings import Settings


@pytest.fixture
async def monitor(settings: Settings) -> AsyncIterator[OpsMonitor]:
    monitor = OpsMonitor(settings)
    await monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()
