"""Read-side commands: `clout score|top|find|explain|history`, Redis lookups through a
ScoreClient."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from app.cli.shared import bounded_int, json_flag, lookup, print_json, when
from app.scoring.card import TopicInfluence
from app.scoring.model import STYLES
from app.store import HISTORY_DAYS, ScoreClient
from app.store.client import MAX_LEADERBOARD_LIMIT
from app.store.topics import (
    MAX_FIND_LIMIT,
    SCAN_BUDGET,
    InfluencerQuery,
    InvalidCursor,
    check_topic,
)


def register(subparsers: Any) -> None:
    """Add `score`, `top`, `find`, `explain` and `history`."""
    score = subparsers.add_parser("score", help="show a user's score, rank and percentile")
    score.add_argument("user", help="user id")
    json_flag(score)
    score.set_defaults(handler=run_score)

    top = subparsers.add_parser("top", help="show the leaderboard")
    top.add_argument("--limit", type=bounded_int(1, MAX_LEADERBOARD_LIMIT), default=10)
    top.add_argument("--offset", type=bounded_int(0, 100_000_000), default=0)
    top.add_argument("--topic", type=_topic, help="a topic's leaderboard (by topic influence)")
    json_flag(top)
    top.set_defaults(handler=run_top)

    find = subparsers.add_parser(
        "find",
        help="find influencers by topic, minimum score, style and network",
        description=f"Walks the topic's leaderboard (or the global one without --topic) and "
        f"prints the users passing every filter; one call reads at most {SCAN_BUDGET:,} rows, "
        "so pass the printed cursor back with --cursor to continue.",
    )
    find.add_argument("--topic", type=_topic, help="only users influential about this topic")
    find.add_argument(
        "--min-score",
        type=_score,
        help="lowest score: the topic score with --topic, the global score without",
    )
    find.add_argument("--style", choices=STYLES, help="only this style")
    find.add_argument("--network", help="only users whose influence is mostly on this network")
    find.add_argument("--limit", type=bounded_int(1, MAX_FIND_LIMIT), default=20)
    find.add_argument("--cursor", help="the cursor a previous `clout find` printed")
    json_flag(find)
    find.set_defaults(handler=run_find)

    explain = subparsers.add_parser("explain", help="show where a user's score comes from")
    explain.add_argument("user", help="user id")
    json_flag(explain)
    explain.set_defaults(handler=run_explain)

    history = subparsers.add_parser("history", help="show a user's daily score history")
    history.add_argument("user", help="user id")
    history.add_argument(
        "--days", type=bounded_int(1, HISTORY_DAYS), default=30, help="UTC days back (default 30)"
    )
    json_flag(history)
    history.set_defaults(handler=run_history)


def run_score(args: argparse.Namespace) -> int:
    """Print one user's score; exit 1 if the user has none."""
    score = lookup(lambda c: c.get(args.user))
    if score is None:
        return _unknown(args.user)
    if args.json:
        return print_json(score)
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
        ("influential about", _topics(score.influential_about)),
        ("updated", when(score.updated_at_ms)),
        ("model", score.model_version),
    ):
        table.add_row(label, value)
    Console().print(table)
    return 0


def run_top(args: argparse.Namespace) -> int:
    """Print a page of the leaderboard, or with --topic of that topic's leaderboard."""
    if args.topic is not None:
        return _run_topic_top(args)
    entries = lookup(lambda c: c.top(args.limit, args.offset))
    if args.json:
        return print_json(entries)
    table = Table(title="Clout leaderboard")
    for name in ("rank", "user", "score", "raw", "percentile"):
        table.add_column(name, justify="left" if name == "user" else "right")
    for e in entries:
        score = "-" if e.score is None else f"{e.score:.1f}"
        table.add_row(f"{e.rank:,}", e.user_id, score, f"{e.raw:.4f}", f"{e.percentile:.2f}")
    Console().print(table if entries else "[dim]nobody is ranked yet[/dim]")
    return 0


def _run_topic_top(args: argparse.Namespace) -> int:
    entries, total = lookup(lambda c: c.topic_top(args.topic, args.limit, args.offset))
    if args.json:
        return print_json({"topic": args.topic, "total": total, "entries": entries})
    table = Table(title=f"Most influential about {args.topic} ({total:,} ranked)")
    for name in ("rank", "user", "topic score", "topic raw", "share", "percentile"):
        table.add_column(name, justify="left" if name == "user" else "right")
    for e in entries:
        table.add_row(
            f"{e.rank:,}",
            e.user_id,
            "-" if e.score is None else f"{e.score:.1f}",
            f"{e.raw:.4f}",
            "-" if e.share is None else f"{100 * e.share:.1f}%",
            f"{e.percentile:.2f}",
        )
    Console().print(table if entries else f"[dim]nobody is ranked about {args.topic} yet[/dim]")
    return 0


def run_find(args: argparse.Namespace) -> int:
    """Print one page of the campaign query and the cursor to continue; exit 2 on a bad query."""
    try:
        query = InfluencerQuery(
            topic=args.topic,
            min_score=args.min_score,
            style=args.style,
            network=args.network,
            limit=args.limit,
        )
    except ValueError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        return 2
    try:
        page = lookup(lambda c: c.find(query, args.cursor))
    except InvalidCursor as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        return 2
    if args.json:
        return print_json(page)
    table = Table(title=f"Influencers ({page.scanned:,} candidates read)")
    columns = ["user", "score", "style", "network"]
    if args.topic is not None:
        columns += [f"{args.topic} score", "share"]
    for name in columns:
        table.add_column(name, justify="left" if name in ("user", "style", "network") else "right")
    for found in page.influencers:
        row = [found.user_id, f"{found.score:.1f}", found.style, found.main_network or "-"]
        if found.topic is not None:
            row += [f"{found.topic.score:.1f}", f"{100 * found.topic.share:.1f}%"]
        table.add_row(*row)
    console = Console()
    console.print(table if page.influencers else "[dim]no match in this stretch[/dim]")
    if page.next_cursor is None:
        console.print("[dim]end of the board[/dim]")
    else:
        console.print(f"more: --cursor {page.next_cursor}")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Print the contributions behind a user's score; exit 1 if the user has none."""
    exp = lookup(lambda c: c.explain(args.user))
    if exp is None:
        return _unknown(args.user)
    if args.json:
        return print_json(exp)
    console = Console()
    console.print(
        f"[bold]{exp.user_id}[/bold]: score [bold]{exp.score:.1f}[/bold], raw {exp.raw:.4f}, "
        f"style {exp.style}, {exp.engagers:,} engagers, model {exp.model_version}, "
        f"curve v{exp.curve_version}, "
        f"updated {when(exp.updated_at_ms)}"
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
    console.print(f"influential about: {_topics(exp.influential_about)}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Print a user's daily scores; exit 1 if the user has no score."""

    async def fetch(client: ScoreClient) -> Any:
        if not await client.exists(args.user):
            return None
        return await client.history(args.user, args.days)

    history = lookup(fetch)
    if history is None:
        return _unknown(args.user)
    if args.json:
        return print_json(history)
    table = Table(title=f"Daily scores of {args.user} (last {args.days} UTC days)")
    table.add_column("day")
    table.add_column("score", justify="right")
    table.add_column("", justify="left")
    for day in history:
        table.add_row(day.day.isoformat(), f"{day.score:.1f}", "█" * max(1, round(day.score / 5)))
    Console().print(table if history else "[dim]no history in that window[/dim]")
    return 0


def _topics(about: Sequence[TopicInfluence]) -> str:
    """`coffee 71.2 (60%), tea 40.0 (25%)`: topic score and share of topic-tagged influence."""
    return ", ".join(f"{t.topic} {t.score:.1f} ({100 * t.share:.0f}%)" for t in about) or "-"


def _topic(text: str) -> str:
    try:
        return check_topic(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _score(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError("must be within 0..100")
    return value


def _unknown(user_id: str) -> int:
    Console(stderr=True).print(f"no score for user {user_id!r}")
    return 1


def _share(value: float, total: float) -> str:
    return f"{100 * value / total:.1f}%" if total else "-"
