"""The API's own answers as a Prometheus counter, for the 5xx and 429 ratio alerts.

Served by the same `/metrics` as the ops figures (the app's ops registry). Labelled by status
code and method only: a path label would grow with every score id asked for.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RESPONSES_METRIC = "clout_api_responses"


class ResponseCounter:
    """ASGI middleware counting every HTTP answer by code; an exception that escapes the app
    counts as the 500 the server then sends."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.responses = Counter(
            RESPONSES_METRIC,
            "HTTP responses sent by the API, by status code and method",
            ["code", "method"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                self.responses.labels(str(message["status"]), method).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            if not counted:
                self.responses.labels("500", method).inc()
            raise
