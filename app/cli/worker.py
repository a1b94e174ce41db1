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
    """Start the worker on its allocator; imported lazily so other commands never load Faust."""
    from app.core.settings import get_settings
    from streams.allocator import use_allocator

    use_allocator(get_settings().worker_allocator)  # may re-execute this process
    from streams.worker import run_worker

    return run_worker(loglevel=args.loglevel)
