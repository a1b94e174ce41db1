"""Fixtures of the reliability tests: a private SASL Kafka broker shared by the modules that
need one (starting a JVM broker costs seconds of both cores, so it is started once)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from app.core.settings import Settings
from tests.support.private_servers import SASL_PASSWORD, SASL_USER, PrivateKafka


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
