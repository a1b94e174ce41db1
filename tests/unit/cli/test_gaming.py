"""`clout gaming-report`: the report with its summary last, and refusals of nonsense."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.support.gaming import SUMMARY


def test_cli_prints_the_summary_last(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gaming-report", "--users", "500", "--events", "5000", "--engagements", "200"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6
    assert SUMMARY.fullmatch(lines[-1]) is not None
    assert lines[2].startswith("bought: 200 engagements")


def test_cli_refuses_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gaming-report", "--users", "1"]) == 2
    assert "error" in capsys.readouterr().out
