"""`clout curve show|fit`: the live score curve, shown or refitted on demand."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from app.cli.shared import lookup, print_json, when
from app.core.settings import get_settings
from app.scoring.curve import Curve
from app.store.curve import Refit, RefitPolicy


def register(subparsers: Any) -> None:
    """Add `curve show` and `curve fit`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "curve", help="show or refit the live score curve (docs/scoring.md)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the current curve: version, population, score table")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(handler=run_show)
    fit = actions.add_parser(
        "fit",
        help="refit the curve to the active population now",
        description=(
            "Fits the curve to the leaderboard's active users. A deployment's first fit applies"
            " in full; later ones move no score more than CLOUT_CURVE__MAX_STEP unless --now."
            " Workers pick the new version up within seconds and re-score their users."
        ),
    )
    fit.add_argument("--now", action="store_true", help="apply the fit in full (no step bound)")
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fit.set_defaults(handler=run_fit)


def run_show(args: argparse.Namespace) -> int:
    """Print the stored curve (the default curve if none was fitted yet)."""
    curve, history = lookup(_read)
    if args.json:
        return print_json(curve.to_dict() | {"table": curve.table(), "last_refit": history})
    _print_curve(curve)
    return 0


async def _read(client: Any) -> tuple[Curve, dict[str, object] | None]:
    history = await client.curves.history(1)
    return await client.curves.load(), (history[0] if history else None)


def run_fit(args: argparse.Namespace) -> int:
    """Refit once; exit 1 when nothing was fitted (lock held, or too few active users)."""
    settings = get_settings()
    policy = RefitPolicy.of(settings)
    refit: Refit | None = lookup(lambda c: c.curves.refit(policy, full=args.now))
    if refit is None:
        Console(stderr=True).print(
            "no refit: another process holds the curve lock, or fewer than"
            f" {policy.min_population:,} active users and no fitted curve yet"
        )
        return 1
    if args.json:
        return print_json(refit.summary())
    how = "in full" if refit.full else f"bounded to {policy.max_step:g} points"
    versions = f"v{refit.previous.version} -> v{refit.curve.version}"
    Console().print(f"refit {versions} ({how}) in {refit.took_ms:.1f} ms")
    _print_curve(refit.curve)
    return 0


def _print_curve(curve: Curve) -> None:
    console = Console()
    if curve.version == 0:
        console.print("curve v0: the default curve (no fit yet)")
    else:
        console.print(
            f"curve v{curve.version}, fitted {when(curve.fitted_at_ms)} on"
            f" {curve.population:,} active users: raw median {curve.raw_median:.4g},"
            f" top 5% >= {curve.raw_top5:.4g}, top 0.1% >= {curve.raw_top01:.4g}"
        )
    table = Table(title="Raw influence needed for each score")
    table.add_column("score", justify="right")
    table.add_column("raw", justify="right")
    for score, raw in curve.table():
        table.add_row(f"{score:.1f}", f"{raw:.4g}")
    console.print(table)
