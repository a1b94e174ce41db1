"""Encrypted in transit: the whole pipeline over real TLS listeners, and bad certificates refused.

A private Kafka node with SASL_SSL (SCRAM and PLAIN) and mutual-TLS listeners, plus listeners
presenting an expired and a wrong-host certificate, and TLS-only redis-servers that want a
client certificate (app/devtools/local_tls.py): events go in over SASL_SSL, the worker scores
them into Redis over TLS with an ACL user, the API serves them over HTTPS, `clout lag` reads it.
Every refusal must name the `CLOUT_*` variable to fix, and no password may reach any output.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.core.settings import Settings
from app.devtools.isolation import free_port, isolated
from app.devtools.local_tls import KeyPair, Pki, make_pki
from app.devtools.redis_cluster import LocalRedisCluster
from app.devtools.worker_process import settings_env
from app.kafka.config import aiokafka_kwargs
from app.kafka.publisher import EventPublisher
from app.scoring.events import Kind
from app.security.tls import TlsRefused, api_client_tls, client_ssl_context
from app.store import ScoreClient, discover_topology, redis_from_settings
from app.store.cleanup import delete_prefix
from tests.support.api import api_process, issue_key
from tests.support.kafka import make_event
from tests.support.outcome import read_cards
from tests.support.private_servers import PrivateKafka, PrivateRedis
from tests.support.traffic import give_standing, make_traffic, produce_all
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(420)]

KAFKA_USER = f"clout-tls-user-{secrets.token_hex(4)}"
KAFKA_PASSWORD = f"scram-pw-{secrets.token_hex(12)}"
REDIS_USER = f"clout-tls-redis-{secrets.token_hex(4)}"
REDIS_PASSWORD = f"redis-tls-pw-{secrets.token_hex(12)}"
KEY_PASSWORD = f"client-key-pw-{secrets.token_hex(12)}"
SECRETS = (KAFKA_USER, KAFKA_PASSWORD, REDIS_USER, REDIS_PASSWORD, KEY_PASSWORD)


def leaks(text: str) -> list[str]:
    """Which of the test's secrets appear in `text`."""
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), KEY_PASSWORD)


@pytest.fixture(scope="module")
def tls_kafka(
    stack: Settings, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateKafka]:
    kafka = PrivateKafka(
        tmp_path_factory.mktemp("tls-kafka"), tls=pki, tls_users={KAFKA_USER: KAFKA_PASSWORD}
    )
    kafka.start()
    try:
        asyncio.run(kafka.wait_ready())
        yield kafka
    finally:
        kafka.stop()


def _redis(tmp_path_factory: pytest.TempPathFactory, pki: Pki, keys: KeyPair) -> PrivateRedis:
    server = PrivateRedis(
        tmp_path_factory.mktemp("tls-redis"), user=(REDIS_USER, REDIS_PASSWORD), tls=(pki, keys)
    )
    server.start()
    return server


@pytest.fixture(scope="module")
def tls_redis(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = _redis(tmp_path_factory, pki, pki.server)
    yield server
    server.stop()


@pytest.fixture
def over_tls(
    stack: Settings, pki: Pki, tls_kafka: PrivateKafka, tls_redis: PrivateRedis
) -> Settings:
    """Isolated settings with every connection encrypted: SASL_SSL with SCRAM-SHA-512 to Kafka,
    rediss:// with a client certificate (encrypted key) and an ACL user, HTTPS for the API."""
    assert tls_kafka.tls_ports is not None
    return isolated(
        stack,
        kafka_bootstrap=f"127.0.0.1:{tls_kafka.tls_ports.sasl_ssl}",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SecretStr(KAFKA_USER),
        kafka_sasl_password=SecretStr(KAFKA_PASSWORD),
        kafka_ssl_cafile=str(pki.ca),
        redis_url=tls_redis.url,
        redis_username=SecretStr(REDIS_USER),
        redis_password=SecretStr(REDIS_PASSWORD),
        redis_ssl_cafile=str(pki.ca),
        redis_ssl_certfile=str(pki.client.cert),
        redis_ssl_keyfile=str(pki.client_encrypted_key),
        redis_ssl_key_password=SecretStr(KEY_PASSWORD),
        api_ssl_certfile=str(pki.server.cert),
        api_ssl_keyfile=str(pki.server.key),
        api_ssl_cafile=str(pki.ca),
        worker_metrics_port=free_port(),
        ops_poll_interval_s=1.0,
    )


def clout(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `clout ARGS` with `settings` in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
async def test_the_full_path_over_tls(over_tls: Settings, pki: Pki, tmp_path: Path) -> None:
    """publish -> worker -> Redis -> API over HTTPS -> `clout lag`, every hop encrypted."""
    traffic = make_traffic(over_tls, seed=71, targets=20)
    redis = redis_from_settings(over_tls)
    worker = WorkerProcess(over_tls, tmp_path, "tls", loglevel="info")
    try:
        await give_standing(redis, over_tls, traffic.actors)
        worker.start()
        await wait_until_consuming(over_tls, [worker])
        await produce_all(over_tls, traffic.messages)

        async def scored() -> bool:
            cards = await read_cards(redis, over_tls, traffic.targets)
            return len(cards) == len(traffic.targets)

        await eventually(scored, what="scores written over TLS")
        key = await issue_key(over_tls)
        with_key = over_tls.model_copy(update={"api_key": SecretStr(key)})
        with api_process(with_key, tmp_path / "api.log") as base:
            assert base.startswith("https://")
            trusted = client_ssl_context(api_client_tls(over_tls))
            async with httpx.AsyncClient(verify=trusted) as http:
                target = traffic.targets[0]
                answer = await http.get(f"{base}/v1/scores/{target}", headers={"X-API-Key": key})
                ready = await http.get(f"{base}/readyz")
            assert answer.status_code == 200, answer.text
            assert answer.json()["user_id"] == target
            assert ready.status_code == 200, ready.text  # the API's own Redis and Kafka checks
            remote = await asyncio.to_thread(clout, with_key, "lag", "--url", base, "--json")
            untrusting = with_key.model_copy(update={"api_ssl_cafile": str(pki.other_ca)})
            refused = await asyncio.to_thread(clout, untrusting, "lag", "--url", base)
        local = await asyncio.to_thread(clout, over_tls, "lag", "--json", "--samples", "2")
    finally:
        worker.stop()
        await redis.aclose()
    assert refused.returncode == 2, refused.stderr
    assert "set CLOUT_API_SSL_CAFILE to the CA" in refused.stderr
    for shown in (remote, local):
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["group"] == over_tls.app_id
    worker_log = worker.log_path.read_text(errors="replace")
    assert "via SCRAM-SHA-512" in worker_log, "the worker logged in with SCRAM"
    logs = [worker_log, (tmp_path / "api.log").read_text()]
    logs += [remote.stderr, local.stderr]
    for log in logs:
        assert not leaks(log), leaks(log)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_ssl_logs_in_with_each_mechanism(over_tls: Settings, mechanism: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        **aiokafka_kwargs(over_tls.model_copy(update={"kafka_sasl_mechanism": mechanism}))
    )
    try:
        await admin.start()
        assert len((await admin.describe_cluster())["brokers"]) == 1
    finally:
        await admin.close()


async def test_the_sdk_publishes_over_mutual_tls_with_an_encrypted_key(
    over_tls: Settings, pki: Pki, tls_kafka: PrivateKafka
) -> None:
    assert tls_kafka.tls_ports is not None
    mtls = over_tls.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{tls_kafka.tls_ports.mtls}",
            "kafka_security_protocol": "SSL",
            "kafka_sasl_mechanism": None,
            "kafka_ssl_certfile": str(pki.client.cert),
            "kafka_ssl_keyfile": str(pki.client_encrypted_key),
            "kafka_ssl_key_password": SecretStr(KEY_PASSWORD),
        }
    )
    async with EventPublisher(mtls) as publisher:
        result = await publisher.publish(Kind.LIKE, make_event())
    assert result.accepted
    assert result.offset is not None
    without_certificate = mtls.model_copy(
        update={"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None}
    )
    with pytest.raises(TlsRefused, match=r"want a client certificate \(CLOUT_KAFKA_SSL_CERTFILE"):
        async with EventPublisher(without_certificate) as publisher:
            await publisher.publish(Kind.LIKE, make_event())


@pytest.fixture(scope="module")
def bad_redis(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, PrivateRedis]]:
    """TLS redis-servers presenting the expired and the wrong-host certificate, and a plain one."""
    servers = {
        "expired": _redis(tmp_path_factory, pki, pki.expired),
        "wrong_host": _redis(tmp_path_factory, pki, pki.wrong_host),
        "not_tls": PrivateRedis(tmp_path_factory.mktemp("plain-redis")),
    }
    servers["not_tls"].start()
    yield servers
    for server in servers.values():
        server.stop()


CASES = {
    # case: (what the message must say, the variable it must name)
    "wrong_ca": ("not signed by a CA in", "SSL_CAFILE"),
    "expired": ("outside its validity period", "{endpoint}"),
    "wrong_host": ("not valid for the host name", "{endpoint}"),
    "no_client_certificate": ("does it want a client certificate", "SSL_CERTFILE"),
    "not_tls": ("the TLS handshake failed", "{endpoint} a TLS port"),
}


def _kafka_case(settings: Settings, pki: Pki, kafka: PrivateKafka, case: str) -> Settings:
    assert kafka.tls_ports is not None
    port = {
        "wrong_ca": kafka.tls_ports.sasl_ssl,
        "expired": kafka.tls_ports.expired,
        "wrong_host": kafka.tls_ports.wrong_host,
        "no_client_certificate": kafka.tls_ports.mtls,
        "not_tls": kafka.port,  # the node's plain listener
    }[case]
    update: dict[str, object] = {"kafka_bootstrap": f"127.0.0.1:{port}"}
    if case == "wrong_ca":
        update["kafka_ssl_cafile"] = str(pki.other_ca)
    else:  # the SSL listeners want a client certificate
        update["kafka_security_protocol"] = "SSL"
        if case != "no_client_certificate":
            update["kafka_ssl_certfile"] = str(pki.client.cert)
            update["kafka_ssl_keyfile"] = str(pki.client.key)
    return settings.model_copy(update=update)


@pytest.mark.parametrize("case", list(CASES))
async def test_kafka_refuses_a_bad_certificate_naming_the_setting(
    over_tls: Settings, pki: Pki, tls_kafka: PrivateKafka, case: str
) -> None:
    settings = _kafka_case(over_tls, pki, tls_kafka, case)
    said, variable = CASES[case]
    variable = "CLOUT_KAFKA_" + variable.format(endpoint="BOOTSTRAP")
    with pytest.raises(TlsRefused) as refused:  # the SDK: aiokafka failed, this says why
        async with EventPublisher(settings):
            pass
    assert said in str(refused.value)
    assert variable in str(refused.value)
    worker = await asyncio.to_thread(clout, settings, "worker")
    assert worker.returncode == 2, worker.stderr
    assert said in worker.stderr
    assert variable in worker.stderr
    assert "Traceback" not in worker.stderr
    assert not leaks(worker.stdout + worker.stderr)


@pytest.mark.parametrize("case", list(CASES))
async def test_redis_refuses_a_bad_certificate_naming_the_setting(
    over_tls: Settings, pki: Pki, bad_redis: dict[str, PrivateRedis], case: str
) -> None:
    if case == "wrong_ca":
        settings = over_tls.model_copy(update={"redis_ssl_cafile": str(pki.other_ca)})
    elif case == "no_client_certificate":
        unset = {"redis_ssl_certfile": None, "redis_ssl_keyfile": None}
        settings = over_tls.model_copy(update=unset | {"redis_ssl_key_password": None})
    else:
        url = bad_redis[case].url.replace("redis://", "rediss://")  # not_tls: TLS to plain
        settings = over_tls.model_copy(update={"redis_url": url})
    client_error: tuple[type[Exception], str] = {
        # TLS 1.3: the alert, or the reset after it, depending on which the client reads first
        "no_client_certificate": (RedisConnectionError, "certificate required|reset by peer"),
        "not_tls": (RedisTimeoutError, "Timeout connecting"),  # no TLS answer ever comes
    }.get(case, (RedisConnectionError, "certificate verify failed"))
    redis = redis_from_settings(settings)
    try:
        with pytest.raises(client_error[0], match=client_error[1]):
            await redis.ping()  # the client itself refuses, whatever Clout says
    finally:
        await redis.aclose()
    said, variable = CASES[case]
    variable = "CLOUT_REDIS_" + variable.format(endpoint="URL")
    listed = await asyncio.to_thread(clout, settings, "keys", "list")
    assert listed.returncode == 2, listed.stderr
    assert said in listed.stderr
    assert variable in listed.stderr
    assert not leaks(listed.stdout + listed.stderr)


async def test_the_bench_measures_the_api_over_https(
    stack: Settings, pki: Pki, tmp_path: Path
) -> None:
    from bench.phases import ApiProcess

    settings = isolated(
        stack,
        api_ssl_certfile=str(pki.server.cert),
        api_ssl_keyfile=str(pki.server.key),
        api_ssl_cafile=str(pki.ca),
    )
    api = ApiProcess(settings, free_port(), tmp_path)
    await api.start()
    try:
        async with api.session() as http, http.get("/healthz") as answer:
            assert answer.status == 200
    finally:
        api.stop()
    assert api.base_url.startswith("https://")


@pytest.fixture(scope="module")
def tls_cluster(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A Redis Cluster (three masters, one replica each) speaking only TLS, bus included."""
    cluster = LocalRedisCluster.on_free_ports(tmp_path_factory.mktemp("tls-cluster"), tls=pki)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


async def test_the_store_cluster_client_over_tls(
    stack: Settings, tls_cluster: LocalRedisCluster
) -> None:
    """The leaderboard's 16 shards spread over every master, written and read over TLS."""
    settings = isolated(stack, **tls_cluster.settings())
    standings = {f"tls-user-{i}": float(1 + i % 99) for i in range(200)}
    redis = redis_from_settings(settings)
    assert isinstance(redis, RedisCluster)
    try:
        await discover_topology(redis)
        await give_standing(redis, settings, standings)
        async with ScoreClient.from_settings(settings) as client:
            assert await client.size() == len(standings)
            top = await client.top(limit=5)
        masters = {node.port for node in tls_cluster.masters()}
        written_on = {
            node.port for node in redis.get_primaries() if await node.execute_command("DBSIZE")
        }
    finally:
        await delete_prefix(redis, settings.redis_key_prefix)
        await redis.aclose()
    assert standings[top[0].user_id] == 99
    assert written_on == masters


async def test_turning_the_hostname_check_off_accepts_another_hosts_certificate(
    over_tls: Settings, pki: Pki, tls_kafka: PrivateKafka, bad_redis: dict[str, PrivateRedis]
) -> None:
    """`CLOUT_*_SSL_CHECK_HOSTNAME=false` reaches both clients (the CA is still checked)."""
    from aiokafka.admin import AIOKafkaAdminClient

    kafka = _kafka_case(over_tls, pki, tls_kafka, "wrong_host")
    settings = kafka.model_copy(
        update={
            "kafka_ssl_check_hostname": False,
            "redis_url": bad_redis["wrong_host"].url,
            "redis_ssl_check_hostname": False,
        }
    )
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    redis = redis_from_settings(settings)
    try:
        await admin.start()
        assert len((await admin.describe_cluster())["brokers"]) == 1
        assert await redis.ping()
    finally:
        await admin.close()
        await redis.aclose()
