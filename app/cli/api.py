"""`clout api`: serve the HTTP API and the ops dashboard in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType
from typing import Any, NoReturn

from app.cli.shared import bounded_int
from app.core.errors import ConfigurationError
from app.core.settings import Settings, get_settings, reveal


def register(subparsers: Any) -> None:
    """Add the `api` subcommand."""
    parser = subparsers.add_parser("api", help="serve the HTTP API (uvicorn) in the foreground")
    parser.add_argument("--host", help="bind address (default: CLOUT_API_HOST)")
    parser.add_argument("--port", type=bounded_int(1, 65535), help="port (default: CLOUT_API_PORT)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve the API until interrupted; uvicorn handles SIGINT/SIGTERM gracefully."""
    import uvicorn

    from app.api import create_api
    from app.security.redaction import credential_values, install_log_redaction

    # After its graceful shutdown uvicorn raises the signal again for the handler that was there
    # before it started; Python's default for SIGTERM would end a cleanly stopped API "killed by
    # signal 15". This handler makes that exit 0 (and stops the API at once if SIGTERM comes
    # before uvicorn has started).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = get_settings()
    settings = settings.model_copy(
        update={
            "api_host": args.host or settings.api_host,
            "api_port": args.port or settings.api_port,
        }
    )
    install_log_redaction(credential_values(settings))
    check_transport(settings)
    api = create_api(settings)  # refuses CLOUT_API_AUTH=off off loopback (exit 2)
    uvicorn.run(
        api,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        # h11, not httptools: h11 bounds the request line and headers (16 KiB incomplete event),
        # httptools accepts a 1 MB header (tests/reliability/test_security.py)
        http="h11",
        loop="uvloop",
        timeout_graceful_shutdown=3,  # open dashboards hold SSE streams; don't wait on them
        ssl_certfile=settings.api_ssl_certfile,
        ssl_keyfile=settings.api_ssl_keyfile,
        ssl_keyfile_password=reveal(settings.api_ssl_key_password),
    )
    return 0


def check_transport(settings: Settings) -> None:
    """Refuse to send API keys in clear text beyond loopback: keys on, a non-loopback address
    and no certificate need `CLOUT_API_ALLOW_PLAINTEXT=true` (TLS ends at a proxy in front),
    which is then warned about on every start. Exit 2 with the settings to change otherwise."""
    from app.api.auth import is_loopback

    if settings.api_ssl_keyfile is not None and settings.api_ssl_certfile is None:
        raise ConfigurationError("CLOUT_API_SSL_KEYFILE is set without CLOUT_API_SSL_CERTFILE")
    if settings.api_ssl_certfile is not None or is_loopback(settings.api_host):
        return
    if not settings.api_auth:
        return  # no keys to protect; `create_api` refuses auth off beyond loopback anyway
    if not settings.api_allow_plaintext:
        raise ConfigurationError(
            f"the API would listen on {settings.api_host!r} over plain HTTP, where API keys "
            "travel in clear text: set CLOUT_API_SSL_CERTFILE and CLOUT_API_SSL_KEYFILE to serve "
            "HTTPS, or CLOUT_API_ALLOW_PLAINTEXT=true when a TLS-terminating proxy is in front"
        )
    logging.getLogger("clout.api").warning(
        "WARNING: serving API keys over plain HTTP on %s (CLOUT_API_ALLOW_PLAINTEXT=true): "
        "only safe behind a TLS-terminating proxy on a private network",
        settings.api_host,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(0)
