"""`clout lag`'s rendering of the /ops/lag document, and the subcommand's registration."""

from __future__ import annotations

import pytest
from rich.console import Console

from app.ops.terminal import fmt_duration, fmt_int, fmt_rate, render
from tests.support.ops import two_polls


def document() -> dict[str, object]:
    return two_polls().to_dict()


def test_render_shows_rows_statuses_and_health() -> None:
    console = Console(record=True, width=220, color_system=None)
    console.print(render(document()))
    text = console.export_text()
    assert "clout-scorer" in text
    assert "total lag 224" in text
    assert "LeaderNotAvailableError" in text
    assert "1,234" in text  # end offset of partition 0
    assert "1,010" in text  # its commit
    assert "3.0 MiB used" in text
    assert "4.0 s ago" in text
    assert "ERR" in text
    assert "catch-up 45 s" in text  # the lag shrinks: an ETA, not words
    feed = text[text.index("score feed") :]
    assert "perks" in feed
    assert "5,120" in feed
    assert "17" in feed
    assert "no consumer" in feed


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (4.25, "4.2 s"), (42, "42 s"), (185, "3 min 5 s"), (7260, "2 h 1 min")],
)
def test_fmt_duration(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_number_formats() -> None:
    assert fmt_int(1234567) == "1,234,567"
    assert fmt_int(None) == "-"
    assert fmt_rate(1234.4) == "1,234"
    assert fmt_rate(12.34) == "12.3"
    assert fmt_rate(1.234) == "1.23"
