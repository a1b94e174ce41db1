"""The real path: plain Kafka producer -> `clout worker` -> scores in Redis, on the real stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.config import aiokafka_kwargs
from app.kafka.topics import partition_for
from app.scoring.model import DEFAULT_CURVE, raw_for_score
from app.step.plan import KIND_HEADER, REKEY_LOOP_REASON
from app.store import redis_from_settings
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard
from streams.allocator import loaded_allocator
from tests.support.kafka import encode, make_event, produce, read_all
from tests.support.redis_variants import REDIS_VARIANTS, stack_on
from tests.support.waiting import eventually
from tests.support.worker import WorkerProcess, wait_until_consuming

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=REDIS_VARIANTS)
def pipeline_settings(request: pytest.FixtureRequest) -> Settings:
    """One isolated pipeline for this module (worker start-up is the slow part), once on the
    single server and once on the cluster."""
    return isolated(stack_on(request), worker_metrics_port=0, sweep_interval_s=1.0)


@pytest.fixture
async def redis_client(pipeline_settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """A raw (bytes) client on the module's server or cluster."""
    client = redis_from_settings(pipeline_settings, decode_responses=False)
    try:
        yield client  # type: ignore[misc]
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def worker(
    pipeline_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A running worker for the module, stopped cleanly at the end."""
    process = WorkerProcess(pipeline_settings, tmp_path_factory.mktemp("worker"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
async def running(worker: WorkerProcess, pipeline_settings: Settings) -> Settings:
    """The module's settings once the worker owns its partitions."""
    await wait_until_consuming(pipeline_settings, [worker])
    return pipeline_settings


def user_key(settings: Settings, user_id: str) -> str:
    return RedisKeys(settings.redis_key_prefix).user(user_id)


def leaderboard(client: aioredis.Redis, settings: Settings) -> Leaderboard:
    return Leaderboard(client, settings.redis_key_prefix, settings.leaderboard_shards)


async def stored_raw(client: aioredis.Redis, settings: Settings, user_id: str) -> float | None:
    value = await client.hget(user_key(settings, user_id), "raw")
    return None if value is None else float(value)


async def test_event_from_plain_producer_becomes_a_score(
    running: Settings, redis_client: aioredis.Redis
) -> None:
    target = f"u-{uuid.uuid4().hex[:8]}"
    await produce(running, running.topic_likes, [encode(make_event("fan-1", target))])

    async def score() -> bytes | None:
        return await redis_client.hget(user_key(running, target), "score")

    value = await eventually(score, what=f"a score for {target} in Redis")
    assert 1.0 <= float(value) <= 100.0
    assert await leaderboard(redis_client, running).raws([target]) != [None]


async def test_invalid_messages_go_to_dead_letters_with_reasons(running: Settings) -> None:
    target = f"u-{uuid.uuid4().hex[:8]}"
    bad = [
        (b"k1", b"{not json"),
        encode(make_event(target, target)),  # self-engagement
        encode({k: v for k, v in make_event("a", target).items() if k != "actor_id"}),
    ]
    await produce(running, running.topic_mentions, bad)
    records = await read_all(running, running.topic_dead_letters, expected=3)
    by_value = {r.value: dict(r.headers) for r in records}
    assert set(by_value) == {value for _, value in bad}
    reasons = sorted(h["clout-error-reason"].decode() for h in by_value.values())
    assert any(r.startswith("not JSON") for r in reasons), reasons
    assert any("self-engagement" in r for r in reasons), reasons
    assert any("actor_id" in r for r in reasons), reasons
    for headers in by_value.values():
        assert headers["clout-error-topic"].decode() == running.topic_mentions
        assert int(headers["clout-error-offset"]) >= 0
        assert int(headers["clout-error-partition"]) >= 0


async def test_topic_tagged_events_make_influential_about_and_a_topic_board(
    running: Settings, redis_client: aioredis.Redis
) -> None:
    target = f"u-{uuid.uuid4().hex[:8]}"
    tag = f"t{uuid.uuid4().hex[:8]}"
    fans = [f"a-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    await give_standing(redis_client, running, fans, 50.0)  # weight 1, never burst-damped
    events = [
        make_event(fans[0], target, topics=[tag, tag]),
        make_event(fans[1], target, topics=[tag]),
        make_event(fans[2], target, topics=["other"]),
        make_event(fans[3], target),  # untagged: outside the shares
    ]
    bad = make_event(fans[4], target, topics=["Coffee"])  # refused: it would be a third topic
    await produce(running, running.topic_likes, [encode(e) for e in [*events, bad]])

    async def about() -> list[dict[str, object]] | None:
        stored = await redis_client.hget(user_key(running, target), "influential_about")
        found: list[dict[str, object]] = orjson.loads(stored) if stored else []
        return found if len(found) == 2 else None

    listed = await eventually(about, what=f"{target} influential about two topics")
    assert [(t["topic"], t["curve"]) for t in listed] == [(tag, "global"), ("other", "global")]
    assert listed[0]["share"] == pytest.approx(2 / 3, abs=1e-4)
    board = Leaderboard(
        redis_client, running.redis_key_prefix, running.leaderboard_shards, topic=tag
    )
    assert await board.raws([target]) == [listed[0]["raw"]]
    live = await redis_client.zrange(RedisKeys(running.redis_key_prefix).topics, 0, -1)
    assert tag.encode() in live


async def give_standing(
    client: aioredis.Redis, settings: Settings, actors: list[str], score: float
) -> None:
    """Publish established scores for actors, so their weight is fixed and undamped."""
    raw = raw_for_score(score, DEFAULT_CURVE)
    pipe = client.pipeline(transaction=False)
    leaderboard(client, settings).queue_set(pipe, dict.fromkeys(actors, raw))
    await pipe.execute()


async def test_duplicate_event_id_counts_once(
    running: Settings, redis_client: aioredis.Redis
) -> None:
    twice, once, two_events = (f"u-{uuid.uuid4().hex[:8]}" for _ in range(3))
    actors = [f"a-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    await give_standing(redis_client, running, actors, 50.0)
    repeated = make_event(actors[0], twice)
    await produce(
        running,
        running.topic_shares,
        [
            encode(repeated),
            encode(repeated),
            encode(make_event(actors[0], once)),
            encode(make_event(actors[1], two_events)),
            encode(make_event(actors[2], two_events)),
        ],
    )

    async def all_raw() -> list[float] | None:
        raws = [await stored_raw(redis_client, running, u) for u in (twice, once, two_events)]
        return None if None in raws else [r for r in raws if r is not None]

    raw_twice, raw_once, raw_two = await eventually(all_raw, what="three scored users")
    assert raw_twice == pytest.approx(raw_once, rel=1e-4)
    assert raw_two == pytest.approx(2 * raw_once, rel=1e-4)


async def test_miskeyed_event_counts_for_its_target(
    running: Settings, redis_client: aioredis.Redis
) -> None:
    target = f"u-{uuid.uuid4().hex[:8]}"
    right = partition_for(target, running.topic_partitions)
    wrong = (right + 1) % running.topic_partitions
    value = orjson.dumps(make_event("fan-2", target))
    await produce(running, running.topic_likes, [(b"someone-else", value)], partition=wrong)

    async def raw() -> float | None:
        return await stored_raw(redis_client, running, target)

    assert await eventually(raw, what="the re-keyed event's score") > 0


async def test_older_write_never_replaces_newer(
    running: Settings, redis_client: aioredis.Redis
) -> None:
    target = f"u-{uuid.uuid4().hex[:8]}"
    await produce(running, running.topic_likes, [encode(make_event("fan-3", target))])

    async def updated_at() -> int | None:
        value = await redis_client.hget(user_key(running, target), "updated_at")
        return None if value is None else int(value)

    first = await eventually(updated_at, what="first write")
    # A replay of older state (e.g. after a rebalance) carries an older updated_at.
    from app.scoring.card import ScoreCard
    from app.store.writer import ScoreWriter

    stale = ScoreCard(
        user_id=target,
        score=99.9,
        raw=1e9,
        components={},
        style="stale",
        engagers=0,
        top_actors=(),
        updated_at_ms=first - 1000,
        model_version="stale",
        curve_version=0,
    )
    await ScoreWriter(redis_client, running.redis_key_prefix).write([stale])
    stored = await redis_client.hgetall(user_key(running, target))
    assert int(stored[b"updated_at"]) == first
    assert stored[b"style"] != b"stale"


async def test_a_rekeyed_message_on_the_wrong_partition_is_dead_lettered_not_rekeyed_again(
    running: Settings,
) -> None:
    """Re-keying a message of the re-key topic again would loop (e.g. after its partition count
    changed under a running worker); it goes to the dead letters instead."""
    target = f"u-{uuid.uuid4().hex[:8]}"
    wrong = (partition_for(target, running.topic_partitions) + 1) % running.topic_partitions
    value = orjson.dumps(make_event("fan-4", target))
    producer = AIOKafkaProducer(**aiokafka_kwargs(running), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            running.topic_rekeyed,
            value=value,
            key=target.encode(),
            partition=wrong,
            headers=[(KIND_HEADER, b"like")],
        )
    finally:
        await producer.stop()

    async def dead_letters_of_it() -> list[ConsumerRecord[bytes, bytes]] | None:
        records = await read_all(running, running.topic_dead_letters, 10**9, deadline_s=2.0)
        return [r for r in records if r.value == value] or None

    (letter,) = await eventually(dead_letters_of_it, what="the message's dead letter")
    headers = {name: raw.decode() for name, raw in letter.headers}
    assert headers["clout-error-reason"] == REKEY_LOOP_REASON
    assert headers["clout-error-topic"] == running.topic_rekeyed
    assert headers["clout-error-partition"] == str(wrong)


@pytest.mark.usefixtures("running")
def test_the_worker_runs_on_jemalloc(worker: WorkerProcess) -> None:
    """`make stack-up` installs jemalloc, and `clout worker` preloads it (streams/allocator.py)."""
    assert loaded_allocator(Path(f"/proc/{worker.pid}/maps")) == "jemalloc"


def test_worker_log_is_clean(worker: WorkerProcess) -> None:
    worker.assert_alive()
    log = Path(worker.log_path).read_text(errors="replace")
    assert "Traceback" not in log, worker.log_tail(80)
