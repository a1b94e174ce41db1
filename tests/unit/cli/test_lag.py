"""`clout lag`: its arguments, and a dashboard that refuses the key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.cli import build_parser, main


def test_lag_subcommand_is_registered() -> None:
    args = build_parser().parse_args(["lag", "--watch", "--samples", "2"])
    assert args.watch is True
    assert args.samples == 2
    assert callable(args.handler)


class Refusing(BaseHTTPRequestHandler):
    """A dashboard that refuses every request as an unknown key would be."""

    def do_GET(self) -> None:  # http.server's name
        body = b'{"detail": "unknown API key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def refusing_dashboard() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_key_exits_2_saying_which_key_to_set(
    refusing_dashboard: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lag", "--url", refusing_dashboard, "--json"]) == 2
    err = capsys.readouterr().err
    assert "the dashboard refused the request: unknown API key" in err
    assert "CLOUT_API_KEY" in err
