"""TLS settings: one context builder for every client, errors that name the variable to fix and
never the key password, and `clout api`'s refusal to send keys in clear text off loopback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.cli.api import check_transport
from app.devtools.local_tls import Pki, make_pki
from app.errors import ConfigurationError
from app.kafka_config import aiokafka_kwargs
from app.settings import Settings
from app.store import redis_from_settings
from app.tls import TlsRefused, client_ssl_context, kafka_tls, redis_ssl_kwargs, redis_tls

KEY_PASSWORD = "client-key-pw-7f3e"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), KEY_PASSWORD)


def test_plain_connections_have_no_tls() -> None:
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", redis_url="redis://r:6379/0")
    assert kafka_tls(settings) is None
    assert redis_tls(settings) is None


def test_kafka_mutual_tls_loads_the_encrypted_client_key(pki: Pki) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(pki.ca),
        kafka_ssl_certfile=str(pki.client.cert),
        kafka_ssl_keyfile=str(pki.client_encrypted_key),
        kafka_ssl_key_password=SecretStr(KEY_PASSWORD),
    )
    context = aiokafka_kwargs(settings)["ssl_context"]
    assert context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "Clout test ca"),),)]


def test_hostname_check_can_be_turned_off_per_service(pki: Pki) -> None:
    settings = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_check_hostname=False,
        redis_url="rediss://r:6379/0",
    )
    kafka, redis = kafka_tls(settings), redis_tls(settings)
    assert kafka is not None
    assert redis is not None
    assert not client_ssl_context(kafka).check_hostname
    assert client_ssl_context(redis).check_hostname


def test_a_missing_ca_file_names_its_variable(tmp_path: Path) -> None:
    settings = Settings(redis_url="rediss://r:6379/0", redis_ssl_cafile=str(tmp_path / "nope.pem"))
    with pytest.raises(TlsRefused, match=r"CLOUT_REDIS_SSL_CAFILE=.*nope\.pem"):
        redis_from_settings(settings)


def test_an_encrypted_key_with_a_wrong_or_no_password_names_the_password_variable(pki: Pki) -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_certfile=str(pki.client.cert),
        kafka_ssl_keyfile=str(pki.client_encrypted_key),
        kafka_ssl_key_password=SecretStr("not-the-password-4411"),
    )
    with pytest.raises(TlsRefused, match="CLOUT_KAFKA_SSL_KEY_PASSWORD") as refused:
        aiokafka_kwargs(settings)
    assert "not-the-password-4411" not in str(refused.value)
    unset = settings.model_copy(update={"kafka_ssl_key_password": None})
    with pytest.raises(TlsRefused, match="CLOUT_KAFKA_SSL_KEY_PASSWORD"):
        aiokafka_kwargs(unset)


def test_a_key_without_a_certificate_is_refused(pki: Pki) -> None:
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_keyfile=str(pki.client.key))
    with pytest.raises(TlsRefused, match="CLOUT_KAFKA_SSL_KEYFILE is set without"):
        aiokafka_kwargs(settings)


def test_redis_gets_the_same_files_and_a_cluster_no_key_password(pki: Pki) -> None:
    settings = Settings(
        redis_url="rediss://r:6379/0",
        redis_ssl_cafile=str(pki.ca),
        redis_ssl_certfile=str(pki.client.cert),
        redis_ssl_keyfile=str(pki.client_encrypted_key),
        redis_ssl_key_password=SecretStr(KEY_PASSWORD),
    )
    tls = redis_tls(settings)
    assert tls is not None
    kwargs = redis_ssl_kwargs(tls, cluster=False)
    assert kwargs["ssl_ca_certs"] == str(pki.ca)
    assert kwargs["ssl_password"] == KEY_PASSWORD
    assert kwargs["ssl_check_hostname"] is True
    with pytest.raises(TlsRefused, match="CLOUT_REDIS_SSL_KEY_PASSWORD cannot be used"):
        redis_ssl_kwargs(tls, cluster=True)


def test_api_off_loopback_without_tls_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CLOUT_API_SSL_CERTFILE"):
        check_transport(Settings(api_host="0.0.0.0"))


def test_api_off_loopback_with_tls_or_on_loopback_is_allowed(pki: Pki) -> None:
    check_transport(
        Settings(
            api_host="0.0.0.0",
            api_ssl_certfile=str(pki.server.cert),
            api_ssl_keyfile=str(pki.server.key),
        )
    )
    check_transport(Settings(api_host="127.0.0.1"))


def test_api_plaintext_override_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="clout.api"):
        check_transport(Settings(api_host="10.0.0.5", api_allow_plaintext=True))
    assert "serving API keys over plain HTTP on 10.0.0.5" in caplog.text


def test_clout_api_refuses_plain_http_with_keys_off_loopback() -> None:
    env = {**os.environ, "CLOUT_API_HOST": "0.0.0.0", "CLOUT_API_AUTH": "on"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "API keys travel in clear text" in done.stderr
    assert "CLOUT_API_ALLOW_PLAINTEXT=true" in done.stderr
    assert "Traceback" not in done.stderr
