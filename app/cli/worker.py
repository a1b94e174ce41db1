"""`clout worker`: run the Faust scoring worker in the foreground."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `worker` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker", help="run the stream-processing worker (Faust) in the foreground"
    )
    parser.add_argument("--loglevel", default="info", help="worker log level (default: info)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Start the worker; imported lazily so other commands never load Faust."""
    from streams.worker import run_worker

    return run_worker(loglevel=args.loglevel)
