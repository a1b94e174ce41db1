"""Daemons recorded in pid files: starting one, whether it still runs, waiting for it to go, its
log's tail; stopping a child process; and the redis-server command line every local server
shares.

Shared by the local stack (scripts/stack.py) and the private Redis servers and clusters of the
tests and the benchmark (app/devtools/redis_cluster.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def spawn(cmd: Sequence[str], log: Path, pid_file: Path, cwd: Path | None = None) -> int:
    """Start a detached daemon (its own session) with its output in `log`; record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def redis_server_command(
    binary: str, host: str, port: int, folder: Path, *, appendonly: bool, extra: Sequence[str] = ()
) -> list[str]:
    """A foreground redis-server on `host:port` keeping its files in `folder`, no RDB snapshots
    (`appendonly`: an AOF, for the local stack's data), protected mode on; `extra` appended."""
    return [
        binary,
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(folder),
        "--appendonly",
        "yes" if appendonly else "no",
        "--save",
        "",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        *extra,
    ]


def live_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is alive (and not a zombie), else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    try:
        # A killed child of this process stays a zombie until reaped: reap it here.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return None
    except ChildProcessError:
        pass  # not our child: alive as far as kill(0) can tell
    return pid


def wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Wait until process `pid` has exited (reaping it if it is our child); False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.05)
    return False


def stop_child(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout_s: float = 30.0
) -> None:
    """Send `sig` to a child that still runs and wait `timeout_s` for it to exit; SIGKILL it if
    it does not (a stop must never hang a test or the benchmark)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def log_tail(log: Path, lines: int = 20) -> str:
    """The last lines of a daemon's log, for error messages."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {log})"
