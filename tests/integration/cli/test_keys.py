"""`clout keys create|list|revoke` as an operator runs them, checked against the key store."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.security.access import Scope, parse_key
from app.store.api_keys import ApiKeyStore
from tests.support.cli import clout_process

pytestmark = pytest.mark.integration


async def test_a_key_is_created_shown_once_listed_and_revoked(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    created = clout_process(
        isolated_settings, "keys", "create", "grafana", "--scope", "ops:read", "--rate", "5"
    )
    assert created.returncode == 0, created.stderr
    assert "shown only this once" in created.stderr
    parts = parse_key(created.stdout.strip())
    assert parts is not None, created.stdout
    record = await store.find(parts.key_id)
    assert record is not None
    assert (record.name, record.scopes, record.rate_per_s) == ("grafana", {Scope.OPS_READ}, 5)

    listed = clout_process(isolated_settings, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "grafana" in listed.stdout
    assert parts.key_id in listed.stdout
    assert parts.secret not in listed.stdout + listed.stderr

    assert clout_process(isolated_settings, "keys", "revoke", "grafana").returncode == 0
    revoked = await store.find(parts.key_id)
    assert revoked is not None
    assert revoked.revoked


async def test_mistakes_exit_non_zero_saying_why(isolated_settings: Settings) -> None:
    unknown = clout_process(isolated_settings, "keys", "revoke", "nobody")
    assert unknown.returncode == 1
    assert "no key named 'nobody'" in unknown.stderr
    bad_scope = clout_process(isolated_settings, "keys", "create", "x", "--scope", "scores:write")
    assert bad_scope.returncode == 2
    assert "invalid choice" in bad_scope.stderr
