"""`clout alerts rules`: the Prometheus rules file for the current settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.core.settings import get_settings
from app.ops.alerts import rules_yaml


def register(subparsers: Any) -> None:
    """Add `alerts rules`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "alerts", help='Prometheus alert rules (docs/ops.md "Alerts")'
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rules = actions.add_parser(
        "rules",
        help="print the recording and alerting rules with this deployment's thresholds",
        description=(
            "Thresholds come from CLOUT_ALERTS__* (and CLOUT_CURVE__REFIT_INTERVAL_S); the"
            " shipped ops/prometheus/clout.rules.yml is this output at the defaults."
        ),
    )
    rules.add_argument("--out", type=Path, help="write to this file instead of standard output")
    rules.set_defaults(handler=run_rules)


def run_rules(args: argparse.Namespace) -> int:
    """Print (or write) the rules file."""
    text = rules_yaml(get_settings())
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
    return 0
