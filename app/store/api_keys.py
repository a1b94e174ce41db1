"""API keys in Redis: records under the key prefix, shared by every API process, and the one
script call per request that checks revocation and charges the token bucket and daily quota.

`{prefix}:{apikeys}` maps key names to key ids; `{prefix}:{apikeys}:<key_id>` is the key's hash
(docs/redis.md). The bucket and the quota use the Redis server's clock (`TIME`), so API processes
on different hosts share one bucket even if their clocks disagree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from redis.exceptions import WatchError

from app.core.lifecycle import AsyncClosing
from app.core.settings import Settings
from app.scoring.decay import S_PER_DAY
from app.security.access import (
    MAX_DAILY,
    MAX_RATE_PER_S,
    ApiKeyRecord,
    RateDecision,
    Scope,
    check_name,
    mint_key,
    secret_digest,
)
from app.store.connection import RedisClient, redis_from_settings, register_lua
from app.store.keys import RedisKeys


@dataclass(frozen=True, slots=True)
class ApiKeyUsage:
    """A key's record and how many requests it made today (UTC), for `clout keys list`."""

    record: ApiKeyRecord
    used_today: int


class KeyNameTaken(ValueError):
    """A live key already has this name (revoke it first to reuse the name)."""


class ApiKeyStore(AsyncClosing):
    """Create, list, look up and revoke API keys, and admit requests against their limits."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._keys = RedisKeys(prefix)
        self._admit = register_lua(redis, __package__, "admit.lua")

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeyStore:
        """A store with its own connection pool, configured from Settings."""
        return cls(redis_from_settings(settings), settings.redis_key_prefix)

    async def create(
        self,
        name: str,
        scopes: Iterable[Scope],
        rate_per_s: int,
        daily: int,
        *,
        replace: bool = False,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key named `name`: its record and the key text (stored nowhere, show it once).

        A revoked key's name may be reused: its record is deleted. A live key's name may not
        (`KeyNameTaken`), unless `replace` says to revoke it first (rotation by name).
        """
        check_name(name)
        scope_set = frozenset(scopes)
        if not scope_set:
            raise ValueError("a key needs at least one scope")
        if not (1 <= rate_per_s <= MAX_RATE_PER_S and 1 <= daily <= MAX_DAILY):
            raise ValueError(
                f"the rate must be 1..{MAX_RATE_PER_S}/s and the daily quota 1..{MAX_DAILY}"
            )
        if replace:
            await self.revoke(name)
        parts, text = mint_key()
        record = ApiKeyRecord(
            key_id=parts.key_id,
            name=name,
            scopes=scope_set,
            rate_per_s=rate_per_s,
            daily=daily,
            created_at_ms=int(time.time() * 1000),
            revoked=False,
            digest=secret_digest(parts.secret),
        )
        names = self._keys.api_key_names
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(names)
                    old_id = cast(str | None, await pipe.hget(names, name))
                    if old_id is not None:
                        old_key = self._keys.api_key(old_id)
                        if await pipe.hget(old_key, "revoked") == "0":
                            raise KeyNameTaken(f"a live key is named {name!r}; revoke it first")
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if old_id is not None:
                        pipe.delete(old_key)
                    pipe.hset(self._keys.api_key(record.key_id), mapping=_fields(record))  # type: ignore[arg-type]
                    pipe.hset(names, name, record.key_id)
                    await pipe.execute()
                    return record, text
                except WatchError:
                    continue  # someone changed the names meanwhile: look again

    async def find(self, key_id: str) -> ApiKeyRecord | None:
        """The record of `key_id`, or None."""
        fields = cast(dict[str, str], await self._redis.hgetall(self._keys.api_key(key_id)))
        return _record(key_id, fields) if fields else None

    async def admit(self, record: ApiKeyRecord) -> RateDecision:
        """Charge one request to the key's bucket and daily quota (one round trip); the verdict
        also says whether the key was revoked or deleted since `record` was read."""
        reply = await self._admit(keys=[self._keys.api_key(record.key_id)], args=[S_PER_DAY])
        return RateDecision.from_reply(record.rate_per_s, record.daily, [int(v) for v in reply])

    async def list(self) -> list[ApiKeyUsage]:
        """Every named key, by name, with today's usage."""
        names = cast(dict[str, str], await self._redis.hgetall(self._keys.api_key_names))
        ordered = sorted(names.items())
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, key_id in ordered:
                pipe.hgetall(self._keys.api_key(key_id))
            replies: list[dict[str, str]] = await pipe.execute()
        today = int(time.time()) // S_PER_DAY
        usages = []
        for (_, key_id), fields in zip(ordered, replies, strict=True):
            if fields:
                used = int(fields.get("used", 0)) if fields.get("day") == str(today) else 0
                usages.append(ApiKeyUsage(_record(key_id, fields), used))
        return usages

    async def revoke(self, name: str) -> bool:
        """Revoke the key named `name` (it stays listed); False if there is none."""
        key_id = cast(str | None, await self._redis.hget(self._keys.api_key_names, name))
        if key_id is None:
            return False
        await self._redis.hset(self._keys.api_key(key_id), "revoked", "1")
        return True

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _fields(record: ApiKeyRecord) -> dict[str, str]:
    return {
        "name": record.name,
        "scopes": " ".join(sorted(record.scopes)),
        "rate": str(record.rate_per_s),
        "daily": str(record.daily),
        "created_at_ms": str(record.created_at_ms),
        "revoked": "1" if record.revoked else "0",
        "digest": record.digest,
    }


def _record(key_id: str, fields: dict[str, str]) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=key_id,
        name=fields["name"],
        scopes=frozenset(Scope(s) for s in fields["scopes"].split()),
        rate_per_s=int(fields["rate"]),
        daily=int(fields["daily"]),
        created_at_ms=int(fields["created_at_ms"]),
        revoked=fields["revoked"] == "1",
        digest=fields["digest"],
    )
