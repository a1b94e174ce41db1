"""What several `clout` subcommands share: a short-lived store client, argument types, output."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from rich.console import Console

from app.core.settings import Settings, get_settings
from app.store import STORE_ERRORS, ScoreClient

T = TypeVar("T")
S = TypeVar("S")


def with_store(
    open_store: Callable[[Settings], AbstractAsyncContextManager[S]],
    call: Callable[[S], Awaitable[T]],
) -> T:
    """Run one call with a short-lived store client; Redis failures (single server or cluster)
    exit with a readable message (exit code 3) instead of a traceback."""

    async def run() -> T:
        async with open_store(get_settings()) as store:
            return await call(store)

    try:
        return asyncio.run(run())
    except STORE_ERRORS as exc:
        Console(stderr=True).print(f"[red]Redis is not usable:[/red] {exc}")
        raise SystemExit(3) from exc


def lookup(call: Callable[[ScoreClient], Awaitable[T]]) -> T:
    """One lookup with a short-lived ScoreClient."""
    return with_store(ScoreClient.from_settings, call)


def print_json(value: Any) -> int:
    """Print `value` as indented JSON; exit code 0."""
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def json_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--json` (print JSON instead of a table)."""
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer within [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be within {low}..{high}")
        return value

    return parse


def when(ms: int) -> str:
    """An epoch-ms instant as UTC wall time, for tables."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
