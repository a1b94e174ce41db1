"""API keys in Redis, on the real server and the cluster: records, unique live names, and the
admission script's token bucket and daily quota (admit.lua)."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from app.core.settings import Settings
from app.security.access import Scope, Verdict
from app.store.api_keys import ApiKeyStore, KeyNameTaken

pytestmark = pytest.mark.integration


async def test_names_are_unique_among_live_keys(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    first, _ = await store.create("svc", [Scope.SCORES_READ], 10, 100)
    with pytest.raises(KeyNameTaken, match="revoke it first"):
        await store.create("svc", [Scope.SCORES_READ], 10, 100)
    await store.revoke("svc")
    second, _ = await store.create("svc", [Scope.OPS_READ], 5, 50)
    listed = await store.list()
    assert [u.record for u in listed] == [second]
    assert await store.find(first.key_id) is None, "the revoked record made way"


async def test_a_created_key_is_found_listed_and_revoked(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    record, text = await store.create("reader", [Scope.SCORES_READ], 5, 100)
    assert record.key_id in text
    assert await store.find(record.key_id) == record
    assert [(u.record, u.used_today) for u in await store.list()] == [(record, 0)]
    assert await store.revoke("reader")
    revoked = await store.find(record.key_id)
    assert revoked is not None
    assert revoked.revoked
    assert (await store.admit(record)).verdict is Verdict.REVOKED


async def test_admission_takes_tokens_then_refuses_until_the_bucket_refills(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    record, _ = await store.create("burst", [Scope.SCORES_READ], 2, 1000)
    first, second, third = [await store.admit(record) for _ in range(3)]
    assert (first.verdict, second.verdict) == (Verdict.ALLOWED, Verdict.ALLOWED)
    assert third.verdict is Verdict.OVER_RATE
    assert third.retry_after_s >= 1
    (usage,) = await store.list()
    assert usage.used_today == 2, "a refused request charges nothing"


async def test_the_daily_quota_refuses_once_used_up(
    isolated_settings: Settings, store_redis: Redis
) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    record, _ = await store.create("daily", [Scope.SCORES_READ], 100, 2)
    verdicts = [(await store.admit(record)).verdict for _ in range(3)]
    assert verdicts == [Verdict.ALLOWED, Verdict.ALLOWED, Verdict.OVER_DAILY]


async def test_a_deleted_record_is_unknown(isolated_settings: Settings, store_redis: Redis) -> None:
    store = ApiKeyStore(store_redis, isolated_settings.redis_key_prefix)
    record, _ = await store.create("gone", [Scope.SCORES_READ], 5, 10)
    await store_redis.delete(store._keys.api_key(record.key_id))  # noqa: SLF001  # as an operator might
    assert (await store.admit(record)).verdict is Verdict.UNKNOWN
