"""Log redaction: configured credentials and API key secrets never reach a handler."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from app.core.settings import Settings
from app.security.access import mint_key
from app.security.redaction import MASK, credential_values, install_log_redaction, redact


@pytest.fixture
def restored_factory() -> Iterator[None]:
    previous = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(previous)


def test_redact_masks_credentials_and_key_secrets() -> None:
    parts, key = mint_key()
    text = f"login pw=hunter2-long key={key}"
    clean = redact(text, ["hunter2-long"])
    assert clean == f"login pw={MASK} key=clout_{parts.key_id}_***"


def test_records_keep_their_argument_tuple_when_only_arguments_carry_a_key(
    restored_factory: None,
) -> None:
    """uvicorn's access formatter unpacks five arguments: they must stay five."""
    install_log_redaction([])
    parts, key = mint_key()
    args = ("127.0.0.1:5000", "GET", f"/v1/leaderboard?api_key={key}", "1.1", 401)
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert isinstance(record.args, tuple)
    assert len(record.args) == 5
    assert record.args[2] == f"/v1/leaderboard?api_key=clout_{parts.key_id}_***"
    assert parts.secret not in record.getMessage()


def test_keys_in_messages_and_tracebacks_are_masked(restored_factory: None) -> None:
    install_log_redaction(["sasl-password-123"])
    parts, key = mint_key()
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "failed with %s", ("sasl-password-123",),
            sys.exc_info(),
        )  # fmt: skip
    assert record.getMessage() == f"failed with {MASK}"
    assert record.exc_text is not None
    assert parts.secret not in record.exc_text
    assert f"clout_{parts.key_id}_***" in record.exc_text


def test_key_passwords_are_redacted_credentials() -> None:
    settings = Settings(
        kafka_ssl_key_password=SecretStr("kafka-key-pw-91"),
        redis_ssl_key_password=SecretStr("redis-key-pw-92"),
        api_ssl_key_password=SecretStr("api-key-pw-93"),
    )
    assert {"kafka-key-pw-91", "redis-key-pw-92", "api-key-pw-93"} <= set(
        credential_values(settings)
    )
    for text in (repr(settings), str(settings.model_dump())):
        assert "key-pw-9" not in text
