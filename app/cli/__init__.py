"""`clout`: the single command-line entry point.

Each subcommand lives in its own module under app/cli/ and exposes
`register(subparsers) -> None`, which adds its parser and sets `handler` (a callable taking the
parsed namespace and returning an exit code). Modules are imported only when listed here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable, Sequence

from app.core.errors import ConfigurationError

COMMAND_MODULES: tuple[str, ...] = (
    "app.cli.worker",
    "app.cli.lag",
    "app.cli.read",
    "app.cli.changes",
    "app.cli.api",
    "app.cli.follow",
    "app.cli.keys",
    "app.cli.publish",
    "app.cli.simulate",
    "app.cli.gaming",
    "app.cli.curve",
    "app.cli.bench",
    "app.cli.alerts",
)


def build_parser() -> argparse.ArgumentParser:
    """The `clout` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="clout", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; its return value is the exit code."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        check_tls_first()
        return handler(args)
    except KeyboardInterrupt:
        return 130  # Ctrl-C: a normal way to stop `clout simulate --rate`, `clout lag --watch`
    except ConfigurationError as exc:
        print(f"clout {args.command}: {exc}", file=sys.stderr)
        return 2


def check_tls_first() -> None:
    """Refuse to start, naming the setting to fix, when a TLS service refuses us or we refuse
    its certificate (one connection per service, only when TLS is configured): otherwise the
    worker would retry "Unable to bootstrap" forever and Redis commands fail with a bare
    "certificate verify failed"."""
    from app.core.settings import get_settings
    from app.security.tls import check_tls, endpoints

    settings = get_settings()
    if endpoints(settings):
        asyncio.run(check_tls(settings))


if __name__ == "__main__":
    sys.exit(main())
