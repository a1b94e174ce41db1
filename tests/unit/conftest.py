"""Fixtures of the unit tests: a throwaway PKI for the TLS checks."""

from __future__ import annotations

from tests.support.pki import pki  # noqa: F401  (the fixture)
