"""scripts/check_docstrings.py: a measurement in a docstring or comment fails `make lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "check_docstrings.py"


def check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, folder], capture_output=True, text=True, check=False, timeout=60
    )


def test_measurements_in_docstrings_and_comments_are_reported(tmp_path: Path) -> None:
    (tmp_path / "fast.py").write_text(
        '"""A module.\n\nIt ran at 4,135 events/s on the dev machine."""\n\n'
        "X = 1  # a dict lookup, ~40 µs a message\n"
        'Y = 2\n"""py-spy said so."""\n'
    )
    result = check(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{tmp_path / 'fast.py'}:3",
        f"{tmp_path / 'fast.py'}:3",
        f"{tmp_path / 'fast.py'}:7",
        f"{tmp_path / 'fast.py'}:5",
    ]
    assert "move these measurements" in result.stderr


def test_what_and_why_passes(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text(
        '"""Cached, as the worker asks for every event (CHANGELOG.md has the numbers)."""\n'
        "TIMEOUT_US = 5  # CPU time in µs, as Redis reports it\n"
    )
    assert check(tmp_path).returncode == 0


def test_make_lint_runs_it_over_app_and_streams() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/check_docstrings.py app streams" in makefile
    assert check(ROOT / "app").returncode == 0
    assert check(ROOT / "streams").returncode == 0
