"""TLS settings: one context builder for every client, errors that name the variable to fix and
never the key password, and `clout api`'s refusal to send keys in clear text off loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from app.core.settings import Settings
from app.devtools.local_tls import Pki
from app.kafka.config import aiokafka_kwargs
from app.security.tls import TlsRefused, client_ssl_context, kafka_tls, redis_ssl_kwargs, redis_tls
from app.store import redis_from_settings
from tests.support.pki import KEY_PASSWORD


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
