"""`clout gaming-report`: how much bought engagement gains compared with organic engagement."""

from __future__ import annotations

import argparse
from typing import Any

from app.simulation import (
    REFERENCE_END_MS,
    REFERENCE_EVENTS,
    REFERENCE_SEED,
    REFERENCE_USERS,
)


def register(subparsers: Any) -> None:
    """Add the `gaming-report` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "gaming-report",
        help="simulate bought vs organic engagement on the reference population's median user",
        description=(
            "Replays the synthetic reference population with the configured model (CLOUT_SCORING__*"
            " variables apply), then compares N fresh accounts engaging in one burst with N"
            " engagements from established accounts spread over a week. The last line is"
            " `bought_points_per_1000=<x> organic_points_per_1000=<y> ratio=<y/x>`."
        ),
    )
    parser.add_argument("--users", type=int, default=REFERENCE_USERS, help="population size")
    parser.add_argument("--events", type=int, default=REFERENCE_EVENTS, help="events to replay")
    parser.add_argument("--seed", type=int, default=REFERENCE_SEED, help="population seed")
    parser.add_argument(
        "--end-ms", type=int, default=REFERENCE_END_MS, help="end of the population's 30 days"
    )
    parser.add_argument(
        "--engagements", type=int, default=1000, help="engagements per scenario (default 1000)"
    )
    parser.add_argument(
        "--fitted-curve",
        action="store_true",
        help="grade on the curve fitted to the replayed population (a live deployment's first fit)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; the pure simulation does the work."""
    from app.core.settings import get_settings
    from app.simulation.gaming import gaming_report

    if args.users < 2 or args.events < 1 or args.engagements < 1:
        print("error: need --users >= 2, --events >= 1 and --engagements >= 1")
        return 2
    report = gaming_report(
        get_settings().model_params(),
        users=args.users,
        events=args.events,
        seed=args.seed,
        end_ms=args.end_ms,
        engagements=args.engagements,
        fitted=args.fitted_curve,
    )
    for line in report.lines():
        print(line)
    return 0
