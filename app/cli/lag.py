"""`clout lag`: the ops dashboard's view of topic lag in the terminal, once or `--watch`."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `lag` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lag",
        help="show consumer lag, partition statuses and pipeline health",
        description=(
            "Observe the worker's consumer group from outside (like the /ops page). Without "
            "--url the command polls Kafka and Redis itself; rates and lag in seconds need a "
            "few polls, so a single view samples --samples times first."
        ),
    )
    parser.add_argument("--watch", action="store_true", help="keep redrawing after every poll")
    parser.add_argument(
        "--samples",
        type=int,
        default=3,
        help="polls before the first view (default: 3; rates need at least 2)",
    )
    parser.add_argument(
        "--url",
        help=(
            "read /ops/lag from a running dashboard instead (e.g. http://127.0.0.1:8000), "
            "sending CLOUT_API_KEY (a key with ops:read)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the JSON document instead")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Draw the view; exit status 1 when Kafka (or the dashboard) could not be read."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped or captured: no terminal width to fit, keep rows whole
        console = Console(width=200)
    try:
        if args.url:
            return _run_remote(args, console)
        return asyncio.run(_run_local(args, console))
    except KeyboardInterrupt:
        return 0
    except urllib.error.HTTPError as refused:
        if refused.code not in (401, 403):
            raise
        detail = json.load(refused).get("detail", "")
        print(
            f"clout lag: the dashboard refused the request: {detail}; set CLOUT_API_KEY to a key "
            "with the ops:read scope (clout keys create NAME --scope ops:read)",
            file=sys.stderr,
        )
        return 2
    except urllib.error.URLError as failed:
        if not isinstance(failed.reason, ssl.SSLCertVerificationError):
            raise
        from app.core.settings import get_settings
        from app.security.tls import api_client_tls, explain_refusal

        url = urllib.parse.urlsplit(args.url)
        tls = api_client_tls(get_settings())
        where = (url.hostname or "", url.port or 443)
        print(f"clout lag: {explain_refusal(tls, *where, failed.reason)}", file=sys.stderr)
        return 2


def _show(doc: dict[str, Any], args: argparse.Namespace, console: Any) -> None:
    if args.json:
        print(json.dumps(doc, indent=2), flush=True)  # plain: safe to pipe into jq
    else:
        from app.ops.terminal import render

        console.print(render(doc))


def _run_remote(args: argparse.Namespace, console: Any) -> int:
    import time

    from app.core.settings import get_settings, reveal
    from app.security.tls import api_client_tls, client_ssl_context

    settings = get_settings()
    key = reveal(settings.api_key)
    context = (
        client_ssl_context(api_client_tls(settings)) if args.url.startswith("https:") else None
    )
    request = urllib.request.Request(
        args.url.rstrip("/") + "/ops/lag?history=false",
        headers={} if key is None else {"X-API-Key": key},
    )

    def fetch() -> dict[str, Any]:
        # an operator-given URL; https:// is verified against CLOUT_API_SSL_CAFILE
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            doc: dict[str, Any] = json.load(response)
            return doc

    doc = fetch()
    if not args.watch:
        _show(doc, args, console)
        return 1 if doc["poll"]["error"] else 0
    if args.json:
        while True:
            print(json.dumps(doc), flush=True)
            time.sleep(doc["poll"]["interval_s"])
            doc = fetch()
    from rich.live import Live

    from app.ops.terminal import render

    with Live(render(doc), console=console) as live:
        while True:
            time.sleep(doc["poll"]["interval_s"])
            doc = fetch()
            live.update(render(doc))


async def _run_local(args: argparse.Namespace, console: Any) -> int:
    from app.core.settings import get_settings
    from app.ops.monitor import OpsMonitor

    settings = get_settings()
    monitor = OpsMonitor(settings)
    await monitor.start()
    try:
        version = 0
        while version < max(1, args.samples):
            version = await monitor.wait_for_update(version, settings.ops_kafka_timeout_s * 2)
        if not args.watch:
            doc = monitor.document(history=False)
            _show(doc, args, console)
            return 1 if doc["poll"]["error"] else 0
        if args.json:
            while True:
                print(json.dumps(monitor.document(history=False)), flush=True)
                version = await monitor.wait_for_update(version, settings.ops_kafka_timeout_s * 2)
        from rich.live import Live

        from app.ops.terminal import render

        with Live(render(monitor.document(history=False)), console=console) as live:
            while True:
                version = await monitor.wait_for_update(version, settings.ops_kafka_timeout_s * 2)
                live.update(render(monitor.document(history=False)))
    finally:
        await monitor.stop()
