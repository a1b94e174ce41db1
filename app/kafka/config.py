"""Kafka connection settings in one place, so every client (SDK, ops, tools, the worker) connects
alike: `kafka_security` reads them once; aiokafka clients take `aiokafka_kwargs`, Faust builds its
credentials from the same `KafkaSecurity` (streams/worker.py)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from app.core.settings import Settings, reveal
from app.security.tls import check_endpoint, client_ssl_context, kafka_tls


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """TLS and SASL as the settings ask: `ssl_context` for SSL/SASL_SSL, `sasl_*` for SASL_*."""

    ssl_context: ssl.SSLContext | None
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None


def kafka_security(settings: Settings) -> KafkaSecurity:
    """The TLS context (`CLOUT_KAFKA_SSL_*`, app/security/tls.py) and the revealed SASL
    credentials."""
    tls = kafka_tls(settings)
    return KafkaSecurity(
        ssl_context=None if tls is None else client_ssl_context(tls),
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=reveal(settings.kafka_sasl_username),
        sasl_password=reveal(settings.kafka_sasl_password),
    )


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security options for any aiokafka client constructor."""
    security = kafka_security(settings)
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if security.ssl_context is not None:
        kwargs["ssl_context"] = security.ssl_context
    if security.sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = security.sasl_mechanism
        kwargs["sasl_plain_username"] = security.sasl_username
        kwargs["sasl_plain_password"] = security.sasl_password
    return kwargs


async def raise_if_tls_refused(settings: Settings) -> None:
    """After a client failed to start: raise `TlsRefused` (naming the setting to fix) if the
    brokers' certificate is why; aiokafka itself only says it could not bootstrap."""
    tls = kafka_tls(settings)
    if tls is not None:
        await check_endpoint(tls, *settings.kafka_host_port)
