"""Keep credentials and API keys out of the worker's and the API's logs, whoever writes the line.

Clout's own code never logs a credential, but its libraries may: aiokafka logs
"Authenticated as <SASL username> via PLAIN" at INFO on every broker connection, an exception
message can quote whatever it was given, and uvicorn's access log prints the query string, where
a confused client may put its API key. Rather than trust every library, the worker and the API
replace each configured credential value, and the secret of anything shaped like an API key, with
`***` in every log record (message and formatted traceback) before any handler sees it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from app.core.settings import Settings, reveal
from app.security.access import redact_keys

MASK = "***"


def credential_values(settings: Settings) -> list[str]:
    """The credential values in `settings`: Redis ACL user and password, Kafka SASL user and
    password (a password embedded in `redis_url` too), and the TLS key passwords."""
    values = [
        reveal(secret)
        for secret in (
            settings.redis_username,
            settings.redis_password,
            settings.kafka_sasl_username,
            settings.kafka_sasl_password,
            settings.kafka_ssl_key_password,
            settings.redis_ssl_key_password,
            settings.api_ssl_key_password,
        )
    ]
    url = urlsplit(settings.redis_url)
    values += [url.username, url.password]
    return [v for v in values if v]


def redact(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of each value replaced by `MASK` (longest values first), and
    the secret of every API key in it masked too."""
    for value in sorted(set(values), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return redact_keys(text)


def install_log_redaction(values: Iterable[str]) -> None:
    """Make every log record created from now on carry no credential value.

    A record factory rather than a handler filter, so it covers handlers that Faust (or anyone)
    installs later and records of every logger.
    """
    secrets = sorted({v for v in values if v}, key=len, reverse=True)
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return record
        clean = redact(message, secrets)
        if clean != message and isinstance(record.args, tuple):
            # Mask string arguments one by one first: formatters that read `args` themselves
            # (uvicorn's access log unpacks client, method, path, version, status) keep working.
            record.args = tuple(
                redact(a, secrets) if isinstance(a, str) else a for a in record.args
            )
        if clean != record.getMessage():
            # An empty tuple, not None: mode's log formatter re-wraps None as (None,).
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None:
            formatted = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact(formatted, secrets)
        return record

    logging.setLogRecordFactory(factory)
