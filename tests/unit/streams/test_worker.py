"""The Faust settings the worker (and the benchmark's Faust floor) run with."""

from __future__ import annotations

import gc
from pathlib import Path

from app.core.settings import Settings
from streams.worker import (
    COMMIT_EVERY_MESSAGES,
    GC_THRESHOLDS,
    faust_app,
    tune_garbage_collector,
)


def test_offsets_commit_on_the_configured_interval(tmp_path: Path) -> None:
    """The write-behind state is flushed at every commit, so the interval is how much it
    coalesces; the message trigger must not commit sooner at one worker's rates."""
    settings = Settings(
        worker_commit_interval_s=7.5, table_store="memory://", data_dir=str(tmp_path)
    )
    app = faust_app(settings, app_id="commit-settings")
    assert app.conf.broker_commit_interval == 7.5
    assert app.conf.broker_commit_every == COMMIT_EVERY_MESSAGES


def test_the_garbage_collector_is_tuned_only_when_configured() -> None:
    """Tuned: the start-up heap is frozen (never scanned again) and collections are spaced out."""
    default = gc.get_threshold()
    try:
        tune_garbage_collector(Settings(worker_gc_tuned=False))
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == default
        tune_garbage_collector(Settings(worker_gc_tuned=True))
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*default)
