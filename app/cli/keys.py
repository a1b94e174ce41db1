"""`clout keys create|list|revoke`: the API keys every API process checks (app/api/auth.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from app.cli.shared import bounded_int, with_store
from app.security.access import (
    DEFAULT_DAILY,
    DEFAULT_RATE_PER_S,
    MAX_DAILY,
    MAX_RATE_PER_S,
    Scope,
    check_name,
)
from app.store.api_keys import ApiKeyStore, KeyNameTaken

T = TypeVar("T")


def register(subparsers: Any) -> None:
    """Add `keys` with its `create`, `list` and `revoke` subcommands."""
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name", type=_name, help="a name for the key (who or what uses it)")
    create.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        help=f"what the key may read; repeat for several (default: {Scope.SCORES_READ.value})",
    )
    create.add_argument(
        "--rate",
        type=bounded_int(1, MAX_RATE_PER_S),
        default=DEFAULT_RATE_PER_S,
        help=f"requests per second, also the burst (default {DEFAULT_RATE_PER_S})",
    )
    create.add_argument(
        "--daily",
        type=bounded_int(1, MAX_DAILY),
        default=DEFAULT_DAILY,
        help=f"requests per UTC day (default {DEFAULT_DAILY})",
    )
    create.add_argument(
        "--replace",
        action="store_true",
        help="revoke a live key of the same name first (rotation by name, e.g. in a deployment)",
    )
    create.set_defaults(handler=run_create)

    listing = actions.add_parser("list", help="list keys (names, scopes, limits, use today)")
    listing.set_defaults(handler=run_list)

    revoke = actions.add_parser("revoke", help="revoke a key (refused within a second)")
    revoke.add_argument("name", type=_name)
    revoke.set_defaults(handler=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    """Create the key and print it; exit 1 if a live key already has the name."""
    scopes = [Scope(s) for s in args.scope or [Scope.SCORES_READ.value]]
    try:
        record, key = _with_store(
            lambda s: s.create(args.name, scopes, args.rate, args.daily, replace=args.replace)
        )
    except KeyNameTaken as exc:
        Console(stderr=True).print(str(exc))
        return 1
    print(key)
    print(
        f"key {record.name!r} (id {record.key_id}): {', '.join(sorted(record.scopes))}, "
        f"{record.rate_per_s}/s, {record.daily}/day. It is shown only this once: store it now. "
        "Send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'.",
        file=sys.stderr,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every key (never a secret: only ids and names are stored in the clear)."""
    usages = _with_store(lambda s: s.list())
    table = Table(title="API keys")
    for column in ("name", "id", "scopes", "limits", "used today", "created (UTC)", "state"):
        table.add_column(column, no_wrap=column != "created (UTC)")
    for usage in usages:
        r = usage.record
        created = datetime.fromtimestamp(r.created_at_ms / 1000, tz=UTC)
        table.add_row(
            r.name,
            r.key_id,
            " ".join(sorted(r.scopes)),
            f"{r.rate_per_s}/s, {r.daily}/day",
            str(usage.used_today),
            created.strftime("%Y-%m-%d %H:%M"),
            "revoked" if r.revoked else "live",
        )
    Console().print(table if usages else "[dim]no API keys yet: clout keys create NAME[/dim]")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke the key; exit 1 if there is none by that name."""
    if not _with_store(lambda s: s.revoke(args.name)):
        Console(stderr=True).print(f"no key named {args.name!r}")
        return 1
    Console(stderr=True).print(f"revoked {args.name!r}: every API process refuses it from now on")
    return 0


def _with_store(call: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """One call with a short-lived key store."""
    return with_store(ApiKeyStore.from_settings, call)


def _name(text: str) -> str:
    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
