"""API keys enforced as FastAPI dependencies, and the rate-limit headers on every answer.

`create_api` puts `ScoresReader` on every `/v1` router and `OpsReader` on the ops data routes;
`check_every_route_guarded` refuses to build an app with a route that has neither and is not in
`OPEN_PATHS`. A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (what
Prometheus can send). Key records are cached for at most `RECORD_TTL_S`; revocation is seen at
once anyway, because the rate-limit script that runs on every request checks it in Redis.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.openapi.utils import get_openapi
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import ConfigurationError
from app.core.settings import Settings
from app.security.access import ApiKeyRecord, RateDecision, Verdict, parse_key
from app.security.access import Scope as KeyScope
from app.store.api_keys import ApiKeyStore

RECORD_TTL_S = 1.0
MAX_CACHED_RECORDS = 10_000
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/ops", "/ops/assets/{name}", "/u/{user_id}", "/u/assets/{name}"}
)
"""Routes anyone may call: liveness, readiness, and the static pages and assets of the ops
dashboard and the user page (they hold no data; they ask for a key and send it with every data
request)."""
_STATE_KEY = "clout_rate_limit"
SCHEME_NAMES = frozenset({"APIKeyHeader", "HTTPBearer"})
"""The OpenAPI names of the two ways to send a key (FastAPI names schemes after their class)."""

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `clout keys create` (`clout_<id>_<secret>`).",
)
bearer_token = HTTPBearer(
    auto_error=False,
    description="The same API key as a bearer token (e.g. Prometheus `authorization`).",
)


class KeyGuard:
    """One app's key checks: records cached for at most a second, one script call per request."""

    def __init__(self, store: ApiKeyStore, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._clock = clock
        self._cache: dict[str, tuple[float, ApiKeyRecord]] = {}

    async def record(self, key_id: str) -> ApiKeyRecord | None:
        """The key's record, from the cache if read less than `RECORD_TTL_S` ago."""
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        record = await self.store.find(key_id)
        if record is None:
            self._cache.pop(key_id, None)
            return None
        if len(self._cache) >= MAX_CACHED_RECORDS:
            self._cache.clear()
        self._cache[key_id] = (now + RECORD_TTL_S, record)
        return record

    async def identify(self, presented: str | None, scope: KeyScope) -> ApiKeyRecord:
        """The record of a live key with `scope`, or raise the 401/403 that says why."""
        if presented is None:
            raise _unauthorized(
                "an API key is required: send it as 'X-API-Key: <key>' "
                "or 'Authorization: Bearer <key>'"
            )
        parts = parse_key(presented)
        if parts is None:
            raise _unauthorized("malformed API key (expected clout_<id>_<secret>)")
        record = await self.record(parts.key_id)
        if record is None or not record.matches(parts):
            raise _unauthorized("unknown API key")
        if record.revoked:
            raise _unauthorized("this API key was revoked")
        if scope not in record.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this API key lacks the {scope.value!r} scope "
                f"(it has: {', '.join(sorted(record.scopes))})",
            )
        return record

    async def admit(self, record: ApiKeyRecord) -> RateDecision:
        """Charge one request to the key's limits (one script call), or raise the 401/429 that
        says why it may not proceed."""
        decision = await self.store.admit(record)
        if decision.verdict in (Verdict.REVOKED, Verdict.UNKNOWN):
            raise _unauthorized("this API key was revoked")
        if decision.verdict is Verdict.OVER_RATE:
            raise _too_many(f"rate limit of {record.rate_per_s} requests/s exceeded", decision)
        if decision.verdict is Verdict.OVER_DAILY:
            raise _too_many(f"daily quota of {record.daily} requests used up", decision)
        return decision


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _too_many(detail: str, decision: RateDecision) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, detail=detail, headers=decision.headers()
    )


def _requires(scope: KeyScope) -> Callable[..., AsyncIterator[None]]:
    async def check(
        request: Request,
        header_key: Annotated[str | None, Security(api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
    ) -> AsyncIterator[None]:
        guard: KeyGuard | None = request.app.state.key_guard
        if guard is None:  # CLOUT_API_AUTH=off, allowed on loopback only
            yield
            return
        presented = (
            header_key if header_key is not None else (bearer.credentials if bearer else None)
        )
        record = await guard.identify(presented or None, scope)
        # The limits' round trip overlaps the route's own reads; nothing the route produced
        # is sent until it is settled, and a refusal replaces the route's answer or error.
        admission = asyncio.ensure_future(guard.admit(record))
        try:
            yield
        finally:
            request.scope.setdefault("state", {})[_STATE_KEY] = await admission

    check.__doc__ = (
        f"Require an API key with the {scope.value!r} scope, and charge the request to its "
        "limits while the route runs (settled before the route's answer is sent)."
    )
    return check


ScoresReader: Any = Depends(_requires(KeyScope.SCORES_READ), scope="function")
"""Router dependency of every `/v1` route."""
OpsReader: Any = Depends(_requires(KeyScope.OPS_READ), scope="function")
"""Router dependency of the ops data routes (`/ops/lag`, `/ops/stream`, `/metrics`)."""


class RateLimitHeaders:
    """ASGI middleware: put the admitted request's ``X-RateLimit-*`` headers on its answer,
    whatever kind of response the route returns (models, plain `Response`s, SSE streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision: RateDecision | None = scope.get("state", {}).get(_STATE_KEY)
                if decision is not None:
                    extra = [
                        (k.lower().encode(), v.encode()) for k, v in decision.headers().items()
                    ]
                    message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_settings(settings: Settings) -> None:
    """Refuse `CLOUT_API_AUTH=off` unless the API binds to a loopback address."""
    if not settings.api_auth and not is_loopback(settings.api_host):
        raise ConfigurationError(
            f"CLOUT_API_AUTH=off is only allowed when the API binds to a loopback address, "
            f"not {settings.api_host!r}: turn auth on (create keys with `clout keys create`) "
            "or bind to 127.0.0.1"
        )


def check_every_route_guarded(app: FastAPI) -> None:
    """Fail closed: every documented operation outside `OPEN_PATHS` must carry a key check.

    Read off the OpenAPI document, which lists each operation's security schemes: only the key
    check declares ours. (A route hidden from the schema is not seen here; the API has none.)
    """
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    for path, operations in schema.get("paths", {}).items():
        if path in OPEN_PATHS:
            continue
        for method, operation in operations.items():
            declared = {
                name for requirement in operation.get("security", []) for name in requirement
            }
            if not declared >= SCHEME_NAMES:
                raise RuntimeError(
                    f"{method.upper()} {path} has no API key check: include its router with "
                    "dependencies=[ScoresReader] (or OpsReader), or list it in OPEN_PATHS"
                )
