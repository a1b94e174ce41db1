"""Run the real `clout worker` as a subprocess: the tests use the one copy in app.devtools."""

from __future__ import annotations

from app.devtools.worker_process import (
    WorkerProcess,
    committed_and_ends,
    settings_env,
    wait_caught_up,
    wait_until_consuming,
)

__all__ = [
    "WorkerProcess",
    "committed_and_ends",
    "settings_env",
    "wait_caught_up",
    "wait_until_consuming",
]
