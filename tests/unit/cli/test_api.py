"""`clout api` refuses to send API keys in clear text beyond loopback, unless told to (loudly)."""

from __future__ import annotations

import logging

import pytest

from app.cli.api import check_transport
from app.core.errors import ConfigurationError
from app.core.settings import Settings
from app.devtools.local_tls import Pki
from tests.support.cli import clout_process


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
    done = clout_process(Settings(api_host="0.0.0.0", api_auth=True), "api", timeout_s=60)
    assert done.returncode == 2
    assert "API keys travel in clear text" in done.stderr
    assert "CLOUT_API_ALLOW_PLAINTEXT=true" in done.stderr
    assert "Traceback" not in done.stderr
