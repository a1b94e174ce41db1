"""The Faust settings the worker (and the benchmark's Faust floor) run with."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings
from streams.worker import COMMIT_EVERY_MESSAGES, faust_app


def test_offsets_commit_on_the_configured_interval(tmp_path: Path) -> None:
    """The write-behind state is flushed at every commit, so the interval is how much it
    coalesces; the message trigger must not commit sooner at one worker's rates."""
    settings = Settings(
        worker_commit_interval_s=7.5, table_store="memory://", data_dir=str(tmp_path)
    )
    app = faust_app(settings, app_id="commit-settings")
    assert app.conf.broker_commit_interval == 7.5
    assert app.conf.broker_commit_every == COMMIT_EVERY_MESSAGES
