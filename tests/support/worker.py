"""Run the real `clout worker` as a subprocess: the tests use the one copy in app.devtools."""

from __future__ import annotations

from app.devtools.worker_process import WorkerProcess, settings_env, wait_until_consuming

__all__ = ["WorkerProcess", "settings_env", "wait_until_consuming"]
