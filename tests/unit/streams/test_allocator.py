"""The worker's allocator: `clout worker` re-executes itself once with jemalloc preloaded."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams import allocator
from streams.allocator import (
    JEMALLOC_CONF,
    PRELOADED_MARK,
    jemalloc_library,
    preloaded_command,
    use_allocator,
)

REPORT = """
import os, sys
from streams.allocator import loaded_allocator, use_allocator
print("started", os.getpid(), flush=True)
use_allocator(sys.argv[1])
print(loaded_allocator(), os.getpid(), sys.argv[1:])
"""


def run_report(wanted: str, *, env: dict[str, str] | None = None) -> list[str]:
    """The lines a child process prints around `use_allocator(wanted)`."""
    result = subprocess.run(
        [sys.executable, "-c", REPORT, wanted, "--an-argument"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[3],
    )
    return result.stdout.splitlines()


@pytest.fixture
def jemalloc() -> str:
    """Debian's libjemalloc2 (`make stack-up` installs it); CI must have it."""
    library = jemalloc_library()
    if library is None:
        if os.environ.get("CI"):
            pytest.fail("jemalloc is missing: `make stack-up` installs libjemalloc2")
        pytest.skip("jemalloc is not installed (apt-get install libjemalloc2)")
    return library


@pytest.mark.usefixtures("jemalloc")
def test_jemalloc_is_preloaded_by_re_executing_the_same_process() -> None:
    first, second, last = run_report("jemalloc")
    pid = first.split()[1]
    assert second == f"started {pid}"  # the same process started over: same pid
    assert last == f"jemalloc {pid} ['jemalloc', '--an-argument']"  # same arguments


def test_the_system_allocator_is_kept_when_chosen() -> None:
    started, report = run_report("system")
    assert report == f"system {started.split()[1]} ['system', '--an-argument']"


def test_a_process_already_on_jemalloc_is_not_re_executed(jemalloc: str) -> None:
    started, report = run_report("jemalloc", env={"LD_PRELOAD": jemalloc})
    assert report.startswith("jemalloc ")
    assert started.startswith("started ")


def test_without_jemalloc_the_worker_says_so_and_runs_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_exec(*args: object) -> None:
        raise AssertionError("re-executed without a library")

    monkeypatch.setattr(allocator, "jemalloc_library", lambda: None)
    monkeypatch.setattr(allocator, "loaded_allocator", lambda: "system")
    monkeypatch.setattr(os, "execve", no_exec)
    with caplog.at_level(logging.WARNING, logger=allocator.__name__):
        use_allocator("jemalloc")
    assert "jemalloc not found" in caplog.text


def test_a_refused_preload_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_exec(*args: object) -> None:
        raise AssertionError("re-executed twice")

    monkeypatch.setenv(PRELOADED_MARK, "1")
    monkeypatch.setattr(allocator, "loaded_allocator", lambda: "system")
    monkeypatch.setattr(os, "execve", no_exec)
    with caplog.at_level(logging.WARNING, logger=allocator.__name__):
        use_allocator("jemalloc")
    assert "preloaded but is not loaded" in caplog.text


def test_a_preload_already_set_is_kept() -> None:
    argv, env = preloaded_command("libjemalloc.so.2", {"LD_PRELOAD": "libother.so", "X": "1"})
    assert argv[0] == sys.executable
    assert env == {
        "LD_PRELOAD": "libjemalloc.so.2 libother.so",
        "X": "1",
        PRELOADED_MARK: "1",
        "MALLOC_CONF": JEMALLOC_CONF,
    }


def test_an_operator_s_malloc_conf_wins() -> None:
    _, env = preloaded_command("libjemalloc.so.2", {"MALLOC_CONF": "narenas:2"})
    assert env["MALLOC_CONF"] == "narenas:2"


@pytest.mark.usefixtures("jemalloc")
def test_the_re_executed_process_runs_with_jemalloc_s_settings() -> None:
    report = "import os; print(os.environ['MALLOC_CONF'])"
    code = f"from streams.allocator import use_allocator; use_allocator('jemalloc'); {report}"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_CONF"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == JEMALLOC_CONF
