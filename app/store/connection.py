"""The one way Clout processes connect to Redis, so every client is configured alike.

`CLOUT_REDIS_CLUSTER=true` makes every client a Redis Cluster client (redis-py's
`RedisCluster`, seeded from `CLOUT_REDIS_URL`, which names any one node); otherwise it is a plain
`Redis`. The store is written against what both support: non-transactional pipelines, and Lua
scripts whose keys all hash to one slot (docs/redis.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.backoff import AbstractBackoff, ExponentialWithJitterBackoff
from redis.commands.core import AsyncScript
from redis.crc import key_slot
from redis.exceptions import (
    ClusterError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.core.settings import Settings, reveal
from app.security.tls import redis_ssl_kwargs, redis_tls

StoreError = RedisError
"""What the store's clients raise when Redis fails (unreachable, timeout, error reply), so
callers outside app/store can handle it without importing redis."""

STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)
"""Everything a store call may raise when Redis fails: StoreError, and the cluster client's
own exception (no reachable node, slot not covered), which does not derive from it."""

TRANSIENT_STORE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,  # CLUSTERDOWN, MASTERDOWN: a failover in progress
    TryAgainError,  # a slot moving or a multi-key command during resharding
    RedisClusterException,  # no node reachable, slot not covered yet
)
"""Failures that pass once Redis (or the cluster's failover) is back: the worker retries them."""


def transient_error_backoff(cap_s: float) -> AbstractBackoff:
    """Delays between retries of a TRANSIENT_STORE_ERRORS failure: exponential from 0.1 s with
    jitter, capped at `cap_s` (`.compute(failures)` gives the next one), so retrying workers do
    not hit a recovering Redis in step."""
    return ExponentialWithJitterBackoff(base=0.1, cap=cap_s)


RedisClient = Redis | RedisCluster
"""A client of a single Redis server or of a Redis Cluster; the store accepts either."""

AnyPipeline = Pipeline | ClusterPipeline
"""A non-transactional pipeline of either client."""


def redis_from_settings(settings: Settings, **overrides: Any) -> RedisClient:
    """An asyncio client for `settings.redis_url` (a cluster client if `redis_cluster`).

    ``decode_responses=True``: every value in the key schema is UTF-8 text (numbers as decimal
    strings, JSON documents), and hiredis decodes in C, which is cheaper than decoding bytes
    in Python on each read. Code sharing this client must therefore expect `str`, not `bytes`.
    `overrides` go to `from_url` last (e.g. a different ``max_connections`` for tests).
    A rediss:// URL connects over TLS with `CLOUT_REDIS_SSL_*` (app/security/tls.py).
    """
    kwargs: dict[str, Any] = {"decode_responses": True}
    tls = redis_tls(settings)
    if tls is not None:
        kwargs.update(redis_ssl_kwargs(tls, cluster=settings.redis_cluster))
    if settings.redis_username is not None:
        kwargs["username"] = reveal(settings.redis_username)
    if settings.redis_password is not None:
        kwargs["password"] = reveal(settings.redis_password)
    kwargs.update(overrides)
    if settings.redis_cluster:
        seeds = [ClusterNode(host, port) for host, port in settings.redis_cluster_seeds]
        return RedisCluster.from_url(settings.redis_url, startup_nodes=seeds, **kwargs)
    return Redis.from_url(settings.redis_url, **kwargs)


async def discover_topology(redis: RedisClient) -> None:
    """Learn a cluster's nodes and slots now, before the client's first concurrent commands
    (nothing to learn on a single server).

    redis-py's async cluster client discovers the cluster on its first command, and a burst of
    concurrent first commands (ten or more) fails some of them with closed-transport errors
    (`AttributeError`, `RuntimeError`, not a redis error): reproduced with redis-py 8.1 on the
    test cluster. Its maintainers' advice is to `initialize()` an async cluster client first
    (redis/redis-py#3032). Raises STORE_ERRORS when no node answers.
    """
    if isinstance(redis, RedisCluster):
        await redis.initialize()


_T = TypeVar("_T")


def chunks_by_slot(
    redis: RedisClient, items: Sequence[_T], key_of: Callable[[_T], str], size: int
) -> list[Sequence[_T]]:
    """`items` grouped by the hash slot of their key (one group on a single server), in order
    within a group, cut into chunks of at most `size`: the calls of a multi-key script.

    Keys of one script call must share a slot on a cluster. A single server has no such rule,
    so its items are not hashed at all (hashing is a per-event cost on the hot path).
    """
    if not isinstance(redis, RedisCluster):
        return [items[i : i + size] for i in range(0, len(items), size)]
    groups: dict[int, list[_T]] = defaultdict(list)
    for item in items:
        groups[key_slot(key_of(item).encode())].append(item)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def register_lua(redis: RedisClient, package: str, name: str) -> AsyncScript:
    """The Lua script `name` (a .lua file shipped as package data of `package`, beside the
    module that runs it), registered with `redis` for `run_script`."""
    return redis.register_script(resources.files(package).joinpath(name).read_text("utf-8"))


ScriptCall = tuple[Sequence[str], Sequence[str | bytes]]
"""One call of a Lua script: its keys (all in one hash slot on a cluster) and its arguments."""


async def run_script(
    redis: RedisClient, script: AsyncScript, calls: Sequence[ScriptCall]
) -> list[Any]:
    """Each call's reply, from one pipeline of EVALSHA (one round trip per node on a cluster).

    redis-py refuses `pipe.evalsha()` in cluster pipelines (it would not retry NOSCRIPT there)
    but routes a raw EVALSHA by its keys, so calls go through `execute_command`. If Redis
    answers NOSCRIPT (a restart, a failover to a replica, SCRIPT FLUSH) the script is loaded
    (on a cluster, on every master) and only those calls are sent again: callers pass scripts
    whose calls are safe to repeat. Any other error reply is raised.
    """
    results = await _evalsha_each(redis, script, calls)
    retry = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
    if retry:
        script.sha = await redis.script_load(script.script)
        replayed = await _evalsha_each(redis, script, [calls[i] for i in retry])
        for i, result in zip(retry, replayed, strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _evalsha_each(
    redis: RedisClient, script: AsyncScript, calls: Sequence[ScriptCall]
) -> list[Any]:
    pipe = redis.pipeline(transaction=False)
    for keys, args in calls:
        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    results: list[Any] = await pipe.execute(raise_on_error=False)
    return results
