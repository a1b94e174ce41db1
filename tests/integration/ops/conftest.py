"""The ops monitor under test, polling with the test's settings (each module sets `settings`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.settings import Settings
from app.ops.monitor import OpsMonitor


@pytest.fixture
async def monitor(settings: Settings) -> AsyncIterator[OpsMonitor]:
    monitor = OpsMonitor(settings)
    await monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()
