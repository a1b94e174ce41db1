"""The SDK's aiokafka clients and the Faust worker read Kafka security from one place."""

from __future__ import annotations

import faust
from pydantic import SecretStr

from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs
from streams.worker import broker_credentials


def test_plaintext_needs_no_credentials() -> None:
    settings = Settings(kafka_bootstrap="k:9092")
    assert aiokafka_kwargs(settings) == {
        "bootstrap_servers": "k:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert broker_credentials(settings) is None


def test_sasl_over_tls_gives_both_clients_the_same_credentials() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username=SecretStr("scorer"),
        kafka_sasl_password=SecretStr("s3cret"),
    )
    kwargs = aiokafka_kwargs(settings)
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("scorer", "s3cret")
    assert (credentials.username, credentials.password) == ("scorer", "s3cret")
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256" == credentials.mechanism.value
    assert kwargs["ssl_context"] is not None
    assert credentials.ssl_context is not None


def test_tls_alone_gives_faust_an_ssl_context() -> None:
    settings = Settings(kafka_security_protocol="SSL")
    assert "sasl_mechanism" not in aiokafka_kwargs(settings)
    assert isinstance(broker_credentials(settings), faust.SSLCredentials)
