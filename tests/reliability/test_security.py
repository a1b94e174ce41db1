"""Security: credentials and API keys stay secret, the API cannot write, and every input has a
size bound.

Credentials (Redis ACL user and password, Kafka SASL user and password) and API key secrets are
distinctive random strings here, so any leak is found by a plain search of every log line, error
body and metrics page the worker and the API produce, with the right credentials and with wrong
ones (the error paths are where secrets usually leak).
"""

from __future__ import annotations

import secrets
import signal
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import BaseRoute, Mount, Route

from app.api import create_api
from app.api.routes.scores import MAX_IDS_PER_CALL
from app.core.settings import Settings
from app.devtools.isolation import free_port, isolated
from app.scoring.events import MAX_ID_LEN
from app.security.access import Scope, mint_key, parse_key
from app.store import redis_from_settings
from app.store.api_keys import ApiKeyStore
from app.store.cleanup import delete_prefix
from app.store.client import MAX_LEADERBOARD_LIMIT
from app.store.keys import HISTORY_DAYS
from tests.support.api import api_process, issue_key, issue_key_sync
from tests.support.outcome import read_cards
from tests.support.private_servers import (
    SASL_PASSWORD,
    SASL_USER,
    PrivateKafka,
    PrivateRedis,
    on_sasl_kafka,
)
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(300)]

REDIS_USER = f"clout-acl-user-{secrets.token_hex(4)}"
REDIS_PASSWORD = f"redis-pw-{secrets.token_hex(12)}"
WRONG_PASSWORD = f"wrong-pw-{secrets.token_hex(12)}"
SECRETS = (REDIS_USER, REDIS_PASSWORD, SASL_USER, SASL_PASSWORD, WRONG_PASSWORD)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def leaks(text: str) -> list[str]:
    """Which of the test's credentials appear in `text`."""
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    """A redis-server of our own where only the ACL user may log in (default user off)."""
    server = PrivateRedis(tmp_path_factory.mktemp("acl-redis"), user=(REDIS_USER, REDIS_PASSWORD))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def secured(stack: Settings, acl_redis: PrivateRedis, sasl_kafka: PrivateKafka) -> Settings:
    """Isolated settings on the ACL Redis and the SASL broker, with the right credentials."""
    return on_sasl_kafka(
        isolated(
            stack,
            redis_url=acl_redis.url,
            redis_username=SecretStr(REDIS_USER),
            redis_password=SecretStr(REDIS_PASSWORD),
            worker_metrics_port=free_port(),
            ops_poll_interval_s=1.0,
            ops_kafka_timeout_s=3.0,
            api_readiness_timeout_s=3.0,
        ),
        sasl_kafka,
    )


def test_passwords_are_secrets_in_settings(secured: Settings) -> None:
    """User names and passwords are SecretStr: a Settings object printed or dumped never shows
    them (what keeps them out of logs, errors and metrics is checked by the tests below)."""
    for text in (repr(secured), str(secured), str(secured.model_dump())):
        for credential in (REDIS_USER, REDIS_PASSWORD, SASL_USER, SASL_PASSWORD):
            assert credential not in text
    for secret in (
        secured.redis_username,
        secured.redis_password,
        secured.kafka_sasl_username,
        secured.kafka_sasl_password,
    ):
        assert isinstance(secret, SecretStr)


async def test_worker_never_logs_or_exposes_credentials(
    secured: Settings, acl_redis: PrivateRedis, tmp_path: Path
) -> None:
    traffic = make_traffic(secured, seed=61, targets=40)
    client = acl_redis.client()
    worker = WorkerProcess(secured, tmp_path, "good", loglevel="info")
    try:
        await give_standing(client, secured, traffic.actors)
        worker.start()
        await wait_until_consuming(secured, [worker])
        await produce_all(secured, traffic.messages)

        async def scored() -> bool:
            return len(await read_cards(client, secured, traffic.targets)) == len(traffic.targets)

        await eventually(scored, what="scores written with the ACL user over SASL")
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"http://127.0.0.1:{secured.worker_metrics_port}/metrics")
        assert metrics.status_code == 200
        assert "clout_events_counted_total" in metrics.text
        assert not leaks(metrics.text), "worker /metrics"

        # Error path: Redis goes away while events arrive; the worker logs every retry.
        acl_redis.stop()
        await produce_all(secured, make_traffic(secured, seed=62, targets=10).messages)

        async def retried() -> bool:
            return "Redis unavailable" in worker.log_path.read_text(errors="replace")

        await eventually(retried, what="the worker to log Redis errors")
        acl_redis.start()
    finally:
        worker.stop()
        await client.aclose()
    log = worker.log_path.read_text(errors="replace")
    assert "Authenticated" in log, "the log level shows the SASL logins"
    assert not leaks(log), f"worker log: {leaks(log)}"


async def test_worker_with_wrong_credentials_never_logs_them(
    secured: Settings, tmp_path: Path
) -> None:
    wrong_redis = secured.model_copy(update={"redis_password": SecretStr(WRONG_PASSWORD)})
    wrong_kafka = secured.model_copy(update={"kafka_sasl_password": SecretStr(WRONG_PASSWORD)})
    redis_worker = WorkerProcess(wrong_redis, tmp_path, "wrong-redis", loglevel="info")
    kafka_worker = WorkerProcess(
        wrong_kafka.model_copy(update={"app_id": secured.app_id + "-k"}),
        tmp_path,
        "wrong-kafka",
        loglevel="info",
    )
    try:
        redis_worker.start()
        kafka_worker.start()
        await wait_until_consuming(wrong_redis, [redis_worker])
        await produce_all(wrong_redis, make_traffic(wrong_redis, seed=63, targets=5).messages)

        async def both_failed() -> bool:
            redis_log = redis_worker.log_path.read_text(errors="replace")
            kafka_log = kafka_worker.log_path.read_text(errors="replace")
            refused_by_redis = "invalid username-password pair" in redis_log
            return refused_by_redis and "SaslAuthenticationFailed" in kafka_log

        await eventually(both_failed, what="authentication errors in both logs")
    finally:
        # SIGKILL: a worker whose batch waits for Redis does not stop on SIGTERM (it must not
        # acknowledge that batch unprocessed), and graceful shutdown is not under test here.
        redis_worker.stop(signal.SIGKILL)
        kafka_worker.stop(signal.SIGKILL)
    for worker in (redis_worker, kafka_worker):
        log = worker.log_path.read_text(errors="replace")
        assert not leaks(log), f"{worker.log_path.name}: {leaks(log)}"


def _read_everything(base: str, key: str) -> str:
    """Every kind of answer the API gives to `key`, concatenated (after the ops monitor polled)."""
    time.sleep(3.0)
    paths = [
        "/readyz",
        "/metrics",
        "/ops/lag",
        "/v1/scores/nobody",
        "/v1/scores?ids=a,b",
        "/v1/leaderboard",
        "/v1/scores/nobody/history",
        "/v1/scores/nobody/explain",
        "/openapi.json",
    ]
    headers = {"X-API-Key": key}
    return "\n".join(httpx.get(base + path, headers=headers, timeout=20).text for path in paths)


def test_api_never_shows_credentials_in_answers_errors_or_logs(
    secured: Settings, tmp_path: Path
) -> None:
    key = issue_key_sync(secured)
    with api_process(secured, tmp_path / "good.log") as base:
        ready = httpx.get(f"{base}/readyz", timeout=20)
        assert ready.status_code == 200, ready.text
        answers = _read_everything(base, key)
    assert not leaks(answers), "API answers"

    wrong = secured.model_copy(
        update={
            "redis_password": SecretStr(WRONG_PASSWORD),
            "kafka_sasl_password": SecretStr(WRONG_PASSWORD),
        }
    )
    with api_process(wrong, tmp_path / "wrong.log") as base:
        not_ready = httpx.get(f"{base}/readyz", timeout=20)
        assert not_ready.status_code == 503
        assert set(not_ready.json()["failing"]) == {"redis", "kafka"}
        answers = _read_everything(base, key)
    assert "AuthenticationError" in answers
    assert not leaks(answers), f"API error answers: {leaks(answers)}"
    for name in ("good.log", "wrong.log"):
        log = (tmp_path / name).read_text(errors="replace")
        assert not leaks(log), f"API log {name}: {leaks(log)}"


async def test_api_keys_never_reach_logs_answers_or_metrics(
    stack: Settings, tmp_path: Path
) -> None:
    """Keys sent every way (header, bearer, even a query string), valid, revoked, unknown and
    without the scope: no secret appears in the API's log, answers or /metrics."""
    settings = isolated(stack)
    good = await issue_key(settings, "good")
    scores_only = await issue_key(settings, "scores-only", (Scope.SCORES_READ,))
    revoked = await issue_key(settings, "revoked")
    unknown = mint_key()[1]
    keys = (good, scores_only, revoked, unknown)
    parts = [parse_key(key) for key in keys]
    redis = redis_from_settings(settings)
    try:
        assert await ApiKeyStore(redis, settings.redis_key_prefix).revoke("revoked")
        log_path = tmp_path / "api.log"
        answers = []
        async with httpx.AsyncClient(timeout=20) as http:
            with api_process(settings, log_path) as base:
                for key in keys:
                    for path in ("/v1/leaderboard", "/ops/lag", "/metrics", "/v1/scores/x"):
                        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
                            answers.append(await http.get(base + path, headers=headers))
                    # a confused client puts its key in the URL: the access log must not keep it
                    answers.append(await http.get(f"{base}/v1/leaderboard?api_key={key}"))
                answers.append(await http.get(f"{base}/metrics", headers={"X-API-Key": good}))
        assert {r.status_code for r in answers} == {200, 401, 403, 404}
        text = "\n".join(r.text + str(r.headers) for r in answers)
        log = log_path.read_text(errors="replace")
    finally:
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()
    for part in parts:
        assert part is not None
        assert part.secret not in text, "an answer shows a key"
        assert part.secret not in log, "the API log shows a key"
        # the access log line is there, with the secret masked
        assert f"api_key=clout_{part.key_id}_***" in log, log[-2000:]


def every_route(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes, with those of included routers (FastAPI 0.16x keeps those behind a wrapper)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from every_route(included.routes)
        else:
            yield route


def test_api_has_no_write_operation(stack: Settings) -> None:
    app = create_api(isolated(stack))
    checked: set[str] = set()
    for route in every_route(app.routes):
        if isinstance(route, Mount):
            pytest.fail(f"unexpected mount {route.path}")
        if isinstance(route, APIRoute | Route) and route.methods is not None:
            assert route.methods <= {"GET", "HEAD"}, f"{route.path}: {route.methods}"
            checked.add(route.path)
    paths = app.openapi()["paths"]
    assert set(paths) <= checked, f"routes not reached by the walk: {set(paths) - checked}"
    for path, operations in paths.items():
        assert set(operations) == {"get"}, f"{path}: {set(operations)}"


async def test_api_refuses_every_write_method(stack: Settings) -> None:
    app = create_api(isolated(stack))
    concrete = {
        "{user_id}": "alice",
        "{name}": "ops.js",
    }
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://clout.test") as http:
            for path in app.openapi()["paths"]:
                for key, value in concrete.items():
                    path = path.replace(key, value)
                for method in WRITE_METHODS:
                    response = await http.request(method, path, content=b"{}")
                    assert response.status_code == 405, f"{method} {path}"


def test_every_api_parameter_is_bounded(stack: Settings) -> None:
    """Each string parameter has a maximum length and each number a maximum, in the schema."""
    schema = create_api(isolated(stack)).openapi()
    unbounded = []
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            assert "requestBody" not in operation, path
            for parameter in operation.get("parameters", []):
                spec = parameter["schema"]
                if spec.get("type") == "array":
                    continue  # `ids`: bounded in code, checked below
                if spec.get("type") == "string" and "maxLength" not in spec and "enum" not in spec:
                    unbounded.append((path, parameter["name"]))
                if spec.get("type") == "integer" and "maximum" not in spec:
                    unbounded.append((path, parameter["name"]))
    # The dashboard's and the user page's asset names are matched against a fixed list of files
    # (404 otherwise: test_api_refuses_oversized_inputs, test_only_the_page_script_is_an_asset).
    assert sorted(unbounded) == [("/ops/assets/{name}", "name"), ("/u/assets/{name}", "name")]


async def test_api_refuses_oversized_inputs(stack: Settings) -> None:
    settings = isolated(stack)
    app = create_api(settings)
    key = await issue_key(settings)
    long_id = "x" * (MAX_ID_LEN + 1)
    too_many = ",".join(f"u{n}" for n in range(MAX_IDS_PER_CALL + 1))
    requests = [
        f"/v1/scores/{long_id}",
        f"/v1/scores?ids={long_id}",
        f"/v1/scores?ids={too_many}",
        f"/v1/leaderboard?limit={MAX_LEADERBOARD_LIMIT + 1}",
        "/v1/leaderboard?offset=100000001",
        f"/v1/scores/alice/history?days={HISTORY_DAYS + 1}",
    ]
    redis = redis_from_settings(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://clout.test", headers={"X-API-Key": key}
            ) as http:
                for path in requests:
                    response = await http.get(path)
                    assert response.status_code == 422, f"{path[:60]}: {response.status_code}"
                    assert len(response.content) < 64 * 1024, "the refusal is bounded too"
                response = await http.get("/ops/assets/" + "x" * 10_000)
                assert response.status_code == 404
                assert len(response.content) < 1024
    finally:
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()


def _raw_status(port: int, request: bytes) -> int | None:
    """Send raw bytes as an HTTP request; the status code, or None if the server hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        try:
            sock.sendall(request)
            head = sock.recv(64)
        except OSError:
            return None
    if not head.startswith(b"HTTP/1."):
        return None
    return int(head.split()[1])


def test_http_server_refuses_huge_requests(secured: Settings, tmp_path: Path) -> None:
    """The server itself bounds the request line and headers (uvicorn's h11 limit)."""
    with api_process(secured, tmp_path / "api.log") as base:
        port = int(base.rsplit(":", 1)[1])
        huge_query = b"GET /v1/scores?ids=" + b"a," * 500_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        huge_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 1_000_000
        for request in (huge_query, huge_header + b"\r\n\r\n"):
            status = _raw_status(port, request)
            assert status is None or 400 <= status < 500, status
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
