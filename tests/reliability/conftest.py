"""Fixtures of the reliability tests: a private SASL Kafka broker shared by the modules that
need one (starting a JVM broker costs seconds of both cores, so it is started once)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from app.settings import Settings
from tests.reliability.private_servers import PrivateKafka

SASL_USER = f"clout-sasl-user-{secrets.token_hex(4)}"
SASL_PASSWORD = f"sasl-pw-{secrets.token_hex(12)}"


@pytest.fixture(scope="session")
def sasl_kafka(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    """A single-node Kafka of our own whose only listener is SASL_PLAINTEXT (PLAIN).

    Tests may stop and restart it; it is never the shared broker other engineers use.
    """
    kafka = PrivateKafka(tmp_path_factory.mktemp("sasl-kafka"), sasl={SASL_USER: SASL_PASSWORD})
    kafka.start()
    try:
        asyncio.run(kafka.wait_ready())
        yield kafka
    finally:
        kafka.stop()


def on_sasl_kafka(settings: Settings, kafka: PrivateKafka) -> Settings:
    """`settings` pointed at the private broker with the SASL credentials (a secret)."""
    return settings.model_copy(
        update={
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "PLAIN",
            "kafka_sasl_username": SecretStr(SASL_USER),
            "kafka_sasl_password": SecretStr(SASL_PASSWORD),
        }
    )
