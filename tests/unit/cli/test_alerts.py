"""`clout alerts rules`: the rules file for the current settings, printed or written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.cli import main
from app.core.settings import Settings
from app.ops.alerts import rules_yaml


def test_the_rules_follow_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUT_ALERTS__REDIS_DOWN_FOR_S", "123")
    assert main(["alerts", "rules"]) == 0
    printed = capsys.readouterr().out
    assert printed == rules_yaml(Settings())
    assert "123s" in printed
    assert yaml.safe_load(printed)["groups"]


def test_the_rules_go_to_a_file_with_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "clout.rules.yml"
    assert main(["alerts", "rules", "--out", str(target)]) == 0
    assert target.read_text() == rules_yaml(Settings())
    assert capsys.readouterr().out == ""
