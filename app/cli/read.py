"""Read-side commands: `clout score|top|explain|history` (Redis lookups) and `clout api`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from types import FrameType
from typing import Any, NoReturn, TypeVar

import orjson
from rich.console import Console
from rich.table import Table

from app.settings import Settings, get_settings
from app.store import HISTORY_DAYS, STORE_ERRORS, ScoreClient
from app.store.client import MAX_LEADERBOARD_LIMIT

T = TypeVar("T")
S = TypeVar("S")


def register(subparsers: Any) -> None:
    """Add `score`, `top`, `explain`, `history` and `api`."""
    score = subparsers.add_parser("score", help="show a user's score, rank and percentile")
    score.add_argument("user", help="user id")
    _json_flag(score)
    score.set_defaults(handler=run_score)

    top = subparsers.add_parser("top", help="show the leaderboard")
    top.add_argument("--limit", type=bounded_int(1, MAX_LEADERBOARD_LIMIT), default=10)
    top.add_argument("--offset", type=bounded_int(0, 100_000_000), default=0)
    _json_flag(top)
    top.set_defaults(handler=run_top)

    explain = subparsers.add_parser("explain", help="show where a user's score comes from")
    explain.add_argument("user", help="user id")
    _json_flag(explain)
    explain.set_defaults(handler=run_explain)

    history = subparsers.add_parser("history", help="show a user's daily score history")
    history.add_argument("user", help="user id")
    history.add_argument(
        "--days", type=bounded_int(1, HISTORY_DAYS), default=30, help="UTC days back (default 30)"
    )
    _json_flag(history)
    history.set_defaults(handler=run_history)

    api = subparsers.add_parser("api", help="serve the HTTP API (uvicorn) in the foreground")
    api.add_argument("--host", help="bind address (default: CLOUT_API_HOST)")
    api.add_argument("--port", type=bounded_int(1, 65535), help="port (default: CLOUT_API_PORT)")
    api.set_defaults(handler=run_api)


def run_score(args: argparse.Namespace) -> int:
    """Print one user's score; exit 1 if the user has none."""
    score = _lookup(lambda c: c.get(args.user))
    if score is None:
        return _unknown(args.user)
    if args.json:
        return _print_json(score)
    table = Table(title=f"Clout score of {args.user}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rank = "-" if score.rank is None else f"{score.rank:,} of {score.ranked:,}"
    pct = "-" if score.percentile is None else f"{score.percentile:.2f}"
    for label, value in (
        ("score", f"{score.score:.1f}"),
        ("rank", rank),
        ("percentile", pct),
        ("raw", f"{score.raw:.4f}"),
        ("style", score.style),
        ("engagers", f"{score.engagers:,}"),
        ("updated", _when(score.updated_at_ms)),
        ("model", score.model_version),
    ):
        table.add_row(label, value)
    Console().print(table)
    return 0


def run_top(args: argparse.Namespace) -> int:
    """Print a page of the leaderboard."""
    entries = _lookup(lambda c: c.top(args.limit, args.offset))
    if args.json:
        return _print_json(entries)
    table = Table(title="Clout leaderboard")
    for name in ("rank", "user", "score", "raw", "percentile"):
        table.add_column(name, justify="left" if name == "user" else "right")
    for e in entries:
        score = "-" if e.score is None else f"{e.score:.1f}"
        table.add_row(f"{e.rank:,}", e.user_id, score, f"{e.raw:.4f}", f"{e.percentile:.2f}")
    Console().print(table if entries else "[dim]nobody is ranked yet[/dim]")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Print the contributions behind a user's score; exit 1 if the user has none."""
    exp = _lookup(lambda c: c.explain(args.user))
    if exp is None:
        return _unknown(args.user)
    if args.json:
        return _print_json(exp)
    console = Console()
    console.print(
        f"[bold]{exp.user_id}[/bold]: score [bold]{exp.score:.1f}[/bold], raw {exp.raw:.4f}, "
        f"style {exp.style}, {exp.engagers:,} engagers, model {exp.model_version}, "
        f"curve v{exp.curve_version}, "
        f"updated {_when(exp.updated_at_ms)}"
    )
    sources = Table(title="Where the score comes from (decayed contributions)")
    sources.add_column("kind")
    sources.add_column("network")
    sources.add_column("contribution", justify="right")
    sources.add_column("share of raw", justify="right")
    totals = exp.kind_totals()
    for kind in sorted(totals, key=lambda k: -totals[k]):
        sources.add_row(
            f"[bold]{kind}[/bold]",
            "[bold]all[/bold]",
            f"{totals[kind]:.4f}",
            f"[bold]{_share(totals[kind], exp.raw)}[/bold]",
        )
        for network, value in sorted(exp.components[kind].items(), key=lambda kv: -kv[1]):
            sources.add_row("", network, f"{value:.4f}", _share(value, exp.raw))
    sources.add_section()
    sources.add_row("[bold]total (raw)[/bold]", "", f"[bold]{exp.raw:.4f}[/bold]", "")
    console.print(sources)
    actors = Table(title="Top engaging actors")
    actors.add_column("actor")
    actors.add_column("contribution", justify="right")
    actors.add_column("share of raw", justify="right")
    for actor in exp.top_actors:
        actors.add_row(
            actor.actor_id, f"{actor.contribution:.4f}", _share(actor.contribution, exp.raw)
        )
    console.print(actors if exp.top_actors else "[dim]no individual actors recorded[/dim]")
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Print a user's daily scores; exit 1 if the user has no score."""

    async def fetch(client: ScoreClient) -> Any:
        if not await client.exists(args.user):
            return None
        return await client.history(args.user, args.days)

    history = _lookup(fetch)
    if history is None:
        return _unknown(args.user)
    if args.json:
        return _print_json(history)
    table = Table(title=f"Daily scores of {args.user} (last {args.days} UTC days)")
    table.add_column("day")
    table.add_column("score", justify="right")
    table.add_column("", justify="left")
    for day in history:
        table.add_row(day.day.isoformat(), f"{day.score:.1f}", "█" * max(1, round(day.score / 5)))
    Console().print(table if history else "[dim]no history in that window[/dim]")
    return 0


def run_api(args: argparse.Namespace) -> int:
    """Serve the API until interrupted; uvicorn handles SIGINT/SIGTERM gracefully."""
    import uvicorn

    from app.api import create_app
    from app.redaction import credential_values, install_log_redaction

    # After its graceful shutdown uvicorn raises the signal again for the handler that was there
    # before it started; Python's default for SIGTERM would end a cleanly stopped API "killed by
    # signal 15". This handler makes that exit 0 (and stops the API at once if SIGTERM comes
    # before uvicorn has started).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = get_settings()
    settings = settings.model_copy(
        update={
            "api_host": args.host or settings.api_host,
            "api_port": args.port or settings.api_port,
        }
    )
    install_log_redaction(credential_values(settings))
    app = create_app(settings)  # refuses CLOUT_API_AUTH=off off loopback (exit 2)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        # uvicorn's C HTTP parser and uvloop, not its pure-Python h11 fallback: less CPU a request
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=3,  # open dashboards hold SSE streams; don't wait on them
    )
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)


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


def _lookup(call: Callable[[ScoreClient], Awaitable[T]]) -> T:
    """One lookup with a short-lived ScoreClient."""
    return with_store(ScoreClient.from_settings, call)


def _unknown(user_id: str) -> int:
    Console(stderr=True).print(f"no score for user {user_id!r}")
    return 1


def _print_json(value: Any) -> int:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def _json_flag(parser: argparse.ArgumentParser) -> None:
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


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _share(value: float, total: float) -> str:
    return f"{100 * value / total:.1f}%" if total else "-"
