"""Run the real `clout worker` as a subprocess configured by a Settings object.

The tests and the benchmark both need a real worker in its own process with isolated settings;
this module is the one copy of that code (tests/support/worker.py re-exports it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.core.settings import Settings
from app.devtools.processes import stop_child
from app.kafka.config import aiokafka_kwargs


def settings_env(settings: Settings) -> dict[str, str]:
    """The CLOUT_* environment that reproduces `settings` in a child process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                env[f"CLOUT_{name.upper()}__{sub.upper()}"] = str(subvalue)
        elif isinstance(value, tuple | list):  # complex settings are JSON in the environment
            env[f"CLOUT_{name.upper()}"] = orjson.dumps(value).decode()
        else:
            raw = getattr(settings, name)
            secret = getattr(raw, "get_secret_value", None)
            env[f"CLOUT_{name.upper()}"] = secret() if secret else str(value)
    return env


class WorkerProcess:
    """A `clout worker` child process with its own data dir and log file."""

    def __init__(
        self,
        settings: Settings,
        workdir: Path,
        name: str = "worker",
        loglevel: str = "warning",
        *,
        module: str = "app.cli",
    ) -> None:
        """`module` is what `python -m` runs (a test may wrap `clout worker` to inject a fault)."""
        self.settings = settings.model_copy(update={"data_dir": str(workdir / f"{name}-data")})
        self.module = module
        self.log_path = workdir / f"{name}.log"
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        """Where the worker keeps its table store."""
        return Path(self.settings.data_dir)

    @property
    def pid(self) -> int:
        """The worker's process id (it must have been started)."""
        if self.proc is None:
            raise RuntimeError("the worker has not been started")
        return self.proc.pid

    def start(self) -> None:
        """Start the worker; returns at once (see wait_until_consuming)."""
        env = {**os.environ, **settings_env(self.settings)}
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker", "--loglevel", self.loglevel],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> None:
        """Stop the worker (SIGTERM: clean shutdown; SIGKILL: a crash)."""
        stop_child(self.proc, sig, timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of the worker's log, for assertion messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def assert_alive(self) -> None:
        """Fail with the log tail if the worker has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited ({self.proc.returncode}):\n{self.log_tail()}")


async def wait_until_consuming(
    settings: Settings, workers: list[WorkerProcess], members: int = 1, deadline_s: float = 90.0
) -> None:
    """Wait until the worker group is Stable with `members` members that own partitions."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            for worker in workers:
                worker.assert_alive()
            described = await admin.describe_consumer_groups([settings.app_id])
            group: Any = described[0].groups[0] if described else None
            if group is not None:
                state, assigned = _group_state(group)
                if state == "Stable" and assigned >= members:
                    return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    tails = "\n---\n".join(w.log_tail() for w in workers)
    raise AssertionError(f"workers did not join group {settings.app_id} in time:\n{tails}")


async def committed_and_ends(
    settings: Settings, topics: Sequence[str]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The group's committed offsets (read first), then the end offsets of `topics`."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    committed = {tp: meta.offset for tp, meta in offsets.items() if tp.topic in topics}
    partitions = [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        if topic["error_code"] == 0
        for p in topic["partitions"]
    ]
    consumer = AIOKafkaConsumer(**aiokafka_kwargs(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return committed, dict(ends)


async def wait_caught_up(
    settings: Settings,
    topics: Sequence[str],
    *,
    deadline_s: float = 120.0,
    alive: Iterable[WorkerProcess] = (),
) -> int:
    """Wait until the group has committed every message of `topics` (so all effects landed);
    returns how many messages that is.

    Committed offsets are read before end offsets: a re-keyed copy is produced before its
    source is committed, so "input committed" plus "re-key topic committed to its end read
    afterwards" leaves nothing in flight.
    """
    deadline = time.monotonic() + deadline_s
    behind: dict[TopicPartition, int] = {}
    while time.monotonic() < deadline:
        for worker in alive:
            worker.assert_alive()
        committed, ends = await committed_and_ends(settings, topics)
        behind = {
            tp: end - committed.get(tp, 0)
            for tp, end in ends.items()
            if end > 0 and committed.get(tp, -1) < end
        }
        if ends and not behind:
            return sum(ends.values())
        await asyncio.sleep(0.5)
    raise AssertionError(f"group {settings.app_id} still behind after {deadline_s:.0f}s: {behind}")


def _group_state(group: Any) -> tuple[str, int]:
    """(state, members with an assignment) from a DescribeGroups response group entry."""
    state = group[2] if isinstance(group, tuple) else group.state
    members = group[5] if isinstance(group, tuple) else group.members
    return state, sum(1 for m in members if (m[4] if isinstance(m, tuple) else m.member_assignment))
