"""An Alertmanager webhook receiver on loopback: records every notification with its arrival."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Notification:
    """One POST from Alertmanager: which receiver path, when (monotonic), and its JSON body."""

    path: str
    at: float
    body: dict[str, Any]


class WebhookReceiver:
    """The notifications received so far (thread-safe: the server runs in its own thread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._received: list[Notification] = []

    def add(self, notification: Notification) -> None:
        with self._lock:
            self._received.append(notification)

    @property
    def received(self) -> list[Notification]:
        """A copy of everything received, in arrival order."""
        with self._lock:
            return list(self._received)

    def find(self, alertname: str, status: str) -> list[tuple[Notification, dict[str, Any]]]:
        """(notification, alert) for each alert named `alertname` with `status` received."""
        return [
            (note, alert)
            for note in self.received
            for alert in note.body.get("alerts", [])
            if alert["labels"].get("alertname") == alertname and alert["status"] == status
        ]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A receiver listening on a free loopback port for the block's duration."""
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = orjson.loads(self.rfile.read(length))
            holder[0].add(Notification(self.path, time.monotonic(), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test logs its own timeline."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
