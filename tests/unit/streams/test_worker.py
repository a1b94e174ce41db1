"""The Faust settings the worker (and the benchmark's Faust floor) run with."""

from __future__ import annotations

import gc
from pathlib import Path

from app.core.settings import Settings
from streams.worker import (
    COMMIT_EVERY_MESSAGES,
    GC_THRESHOLDS,
    TABLE_WRITE_BUFFERS,
    declare_signal_table,
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


def test_the_tables_rocksdb_memory_is_bounded_by_settings(tmp_path: Path) -> None:
    """Faust's defaults would give every partition three 64 MiB memtables and a 2 GiB cache."""
    settings = Settings(
        table_write_buffer_bytes=3 << 20, table_block_cache_bytes=5 << 20, data_dir=str(tmp_path)
    )
    table = declare_signal_table(faust_app(settings, app_id="table-memory"), settings)
    options = table.data.rocksdb_options  # type: ignore[attr-defined]
    assert options.write_buffer_size == 3 << 20
    assert options.max_write_buffer_number == TABLE_WRITE_BUFFERS
    assert options.block_cache_size == 5 << 20
