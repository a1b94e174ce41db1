"""What the `clout` subcommands share: bounded integers, times, JSON output, and a Redis that
cannot be reached exiting 3 with a message instead of a traceback."""

from __future__ import annotations

import argparse

import orjson
import pytest

from app.cli.shared import bounded_int, lookup, print_json, when


def test_bounded_int_accepts_the_range_and_names_what_is_wrong() -> None:
    parse = bounded_int(1, 90)
    assert (parse("1"), parse("90")) == (1, 90)
    with pytest.raises(argparse.ArgumentTypeError, match=r"must be within 1\.\.90"):
        parse("91")
    with pytest.raises(argparse.ArgumentTypeError, match="not an integer: 'ten'"):
        parse("ten")


def test_when_is_utc_wall_time() -> None:
    assert when(1_767_225_600_000) == "2026-01-01 00:00:00 UTC"


def test_print_json_writes_indented_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert print_json({"user_id": "alice", "score": 57.3}) == 0
    out = capsys.readouterr().out
    assert orjson.loads(out) == {"user_id": "alice", "score": 57.3}
    assert '\n  "score"' in out


def test_an_unreachable_redis_exits_3_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUT_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setenv("CLOUT_REDIS_CLUSTER", "false")

    async def ask(client: object) -> None:
        await client.get("alice")  # type: ignore[attr-defined]

    with pytest.raises(SystemExit) as exited:
        lookup(ask)
    assert exited.value.code == 3
    assert "Redis is not usable" in capsys.readouterr().err
