"""aiokafka connection arguments from Settings, so every client (SDK, ops, tools) connects alike."""

from __future__ import annotations

from typing import Any

from app.settings import Settings, reveal


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and security options for any aiokafka client constructor."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        kwargs["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = reveal(settings.kafka_sasl_username)
        kwargs["sasl_plain_password"] = reveal(settings.kafka_sasl_password)
    return kwargs
