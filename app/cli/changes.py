"""`clout changes USER --since 7d`: why a score moved over a window, biggest movers first."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from app.cli.shared import json_flag, lookup, print_json, when
from app.scoring.attribution import OTHER_NETWORKS, Attribution
from app.store import CurveChanging, NoSnapshot, Since, parse_since
from app.store.windows import SINCE_HELP


def register(subparsers: Any) -> None:
    """Add `changes`."""
    changes = subparsers.add_parser("changes", help="show why a user's score moved over a window")
    changes.add_argument("user", help="user id")
    changes.add_argument(
        "--since", type=_since, default=parse_since("7d"), help=f"{SINCE_HELP} (default 7d)"
    )
    json_flag(changes)
    changes.set_defaults(handler=run_changes)


def _since(text: str) -> Since:
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_changes(args: argparse.Namespace) -> int:
    """Print the attribution of the window; exit 1 if there is none to print."""
    since: Since = args.since
    try:
        moved = lookup(lambda c: c.attribution(args.user, since))
    except (NoSnapshot, CurveChanging) as exc:
        Console(stderr=True).print(str(exc))
        return 1
    if moved is None:
        Console(stderr=True).print(f"no score for user {args.user!r}")
        return 1
    if args.json:
        return print_json({"user_id": args.user, "since": since.text, **moved.to_dict()})
    _print(args.user, since, moved)
    return 0


def _print(user_id: str, since: Since, moved: Attribution) -> None:
    console = Console()
    then, now = moved.then, moved.now
    console.print(
        f"[bold]{user_id}[/bold] since {since.text} (from {when(then.updated_at_ms)} "
        f"to {when(now.updated_at_ms)}): score {then.score:.1f} -> [bold]{now.score:.1f}[/bold] "
        f"({now.score - then.score:+.1f}: {moved.movement_points:+.1f} from raw, "
        f"{moved.refit_points:+.1f} from curve refits, curve v{then.curve_version} -> "
        f"v{now.curve_version})"
    )
    console.print(
        f"raw {then.raw:.4f} -> {now.raw:.4f} ({moved.raw_change:+.4f} = "
        f"{moved.new_engagement:+.4f} new engagement {moved.decay:+.4f} decay); {moved.driver()}"
    )
    cells = Table(title="By kind and network, biggest movers first")
    for name in ("kind", "network", "then", "now", "new", "decay", "change"):
        cells.add_column(name, justify="left" if name in ("kind", "network") else "right")
    for c in moved.cells:
        network = "other networks" if c.network == OTHER_NETWORKS else c.network
        cells.add_row(
            c.kind,
            network,
            f"{c.then:.4f}",
            f"{c.now:.4f}",
            f"{c.new:+.4f}",
            f"{c.decay:+.4f}",
            f"[bold]{c.now - c.then:+.4f}[/bold]",
        )
    cells.add_section()
    cells.add_row(
        "[bold]total (raw)[/bold]",
        "",
        f"{then.raw:.4f}",
        f"{now.raw:.4f}",
        f"{moved.new_engagement:+.4f}",
        f"{moved.decay:+.4f}",
        f"[bold]{moved.raw_change:+.4f}[/bold]",
    )
    console.print(cells)
    actors = Table(title="Top actors gained and lost (beside the sum, not added to it)")
    for name in ("actor", "then", "now", "change"):
        actors.add_column(name, justify="left" if name == "actor" else "right")
    for m in moved.movers:
        actors.add_row(
            m.actor_id,
            "gained" if m.then is None else f"{m.then:.4f}",
            "lost" if m.now is None else f"{m.now:.4f}",
            f"{m.change:+.4f}",
        )
    console.print(actors if moved.movers else "[dim]no top actors then or now[/dim]")
