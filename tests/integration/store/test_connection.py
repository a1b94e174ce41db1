"""The store's connection helpers on the real server and the cluster: clients from settings,
Lua scripts shipped as package data, script calls that survive NOSCRIPT, chunks by hash slot."""

from __future__ import annotations

import uuid
from importlib import resources

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.crc import key_slot

from app.core.settings import Settings
from app.store.connection import chunks_by_slot, register_lua, run_script
from app.store.keys import RedisKeys

pytestmark = pytest.mark.integration


def test_a_packaged_script_is_registered_with_its_file_text(store_redis: Redis) -> None:
    script = register_lua(store_redis, "app.store", "count_around.lua")
    text = resources.files("app.store").joinpath("count_around.lua").read_text("utf-8")
    assert script.script == text
    assert "ZCOUNT" in text


async def test_a_script_unknown_to_the_server_is_loaded_and_each_call_answered(
    store_redis: Redis, isolated_settings: Settings
) -> None:
    # A body no server has seen (a fresh comment), so the first EVALSHA gets NOSCRIPT.
    body = f"-- {uuid.uuid4().hex}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])"
    script = store_redis.register_script(body)
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    calls = [([keys.user(f"u{i}")], [str(i + 1)]) for i in range(5)]
    assert await run_script(store_redis, script, calls) == [1, 2, 3, 4, 5]
    assert await run_script(store_redis, script, calls) == [2, 4, 6, 8, 10]


async def test_an_error_reply_is_raised(store_redis: Redis, isolated_settings: Settings) -> None:
    script = store_redis.register_script("return redis.error_reply('refused on purpose')")
    keys = RedisKeys(isolated_settings.redis_key_prefix)
    with pytest.raises(Exception, match="refused on purpose"):
        await run_script(store_redis, script, [([keys.user("u")], [])])


def test_chunks_share_a_slot_on_a_cluster_and_keep_their_order(store_redis: Redis) -> None:
    keys = [f"k{i}" for i in range(40)]
    chunks = chunks_by_slot(store_redis, keys, lambda key: key, 7)
    assert all(len(chunk) <= 7 for chunk in chunks)
    assert sorted(key for chunk in chunks for key in chunk) == sorted(keys)
    for chunk in chunks:
        assert list(chunk) == sorted(chunk, key=keys.index)
    if isinstance(store_redis, RedisCluster):
        assert all(len({key_slot(k.encode()) for k in chunk}) == 1 for chunk in chunks)
    else:
        assert [list(c) for c in chunks] == [keys[i : i + 7] for i in range(0, 40, 7)]
