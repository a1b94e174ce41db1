"""A throwaway PKI (CA, server and client certificates) for the TLS tests."""

from __future__ import annotations

import pytest

from app.devtools.local_tls import Pki, make_pki

KEY_PASSWORD = "client-key-pw-7f3e"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), KEY_PASSWORD)
