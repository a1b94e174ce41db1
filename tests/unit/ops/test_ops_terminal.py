"""`clout lag`'s rendering of the /ops/lag document, and the subcommand's registration."""

from __future__ import annotations

import pytest
from rich.console import Console

from app.cli import build_parser
from app.ops.terminal import fmt_duration, fmt_int, fmt_rate, render
from app.ops.tracker import (
    FeedLag,
    LagTracker,
    MemberInfo,
    Observation,
    PartitionObservation,
)
from app.store.health import RedisHealth


def document() -> dict[str, object]:
    tracker = LagTracker(group="clout-scorer", input_topics=("clout.likes",), dead_letter_topic="d")
    member = MemberInfo("worker-1-abc", "worker-1", "/10.0.0.1", 1)
    for ts, committed in ((0, 1000), (2_000, 1010)):
        snap = tracker.observe(
            Observation(
                ts_ms=ts,
                group="clout-scorer",
                group_state="Stable",
                members=(member,),
                partitions=(
                    PartitionObservation(
                        "clout.likes", 0, 0, 1234, committed, owner="worker-1-abc"
                    ),
                    PartitionObservation("clout.likes", 1, error="LeaderNotAvailableError"),
                ),
                feed=(
                    FeedLag("clout.scores", 8, 5_120, "perks", 17),
                    FeedLag("clout.score-thresholds", 8, 40),
                ),
            ),
            RedisHealth(True, 3 * 1048576, 0, 4.0),
        )
    return snap.to_dict()


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


def test_lag_subcommand_is_registered() -> None:
    args = build_parser().parse_args(["lag", "--watch", "--samples", "2"])
    assert args.watch is True
    assert args.samples == 2
    assert callable(args.handler)
