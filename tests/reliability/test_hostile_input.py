"""Hostile input: 10,000 malformed or adversarial messages mixed with valid events.

One real worker reads them all. It must stay up, send every bad message to the dead-letter topic
with the reason it was refused (checked message by message against the reason each one was built
to trigger), and count every valid event exactly once (checked against the exact model).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from app.core.settings import Settings
from app.devtools.isolation import isolated
from app.kafka.topics import partition_for
from app.scoring.events import Kind
from app.store.cleanup import delete_prefix
from streams.executor import DEAD_LETTER_MAX_KEY_BYTES, DEAD_LETTER_MAX_VALUE_BYTES
from tests.support.kafka import read_all
from tests.support.outcome import card_mismatches, read_cards, seen_positions
from tests.support.traffic import Outgoing, Traffic, give_standing, make_traffic, produce_all
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(400)]

BAD_MESSAGES = 10_000
HUGE = 1_040_000  # just under what the broker accepts (message.max.bytes 1048588)
Bad = tuple[Outgoing, str]  # the message and the reason it must be refused with


def _template(rng: random.Random, now_ms: int) -> dict[str, Any]:
    """A valid event from an actor and to a target that nothing else uses."""
    n = rng.getrandbits(48)
    return {
        "event_id": f"bad-{n:012x}",
        "network": "twitter",
        "actor_id": f"hostile-actor-{n % 97}",
        "target_id": f"hostile-target-{n % 1009}",
        "post_id": None,
        "ts": now_ms - rng.randrange(60_000, 86_400_000),
    }


def _with(event: dict[str, Any], **changes: Any) -> bytes:
    return orjson.dumps({**event, **changes})


def _without(event: dict[str, Any], name: str) -> bytes:
    return orjson.dumps({k: v for k, v in event.items() if k != name})


def _malformed(rng: random.Random, now_ms: int) -> Iterator[Callable[[], tuple[bytes | None, str]]]:
    """Makers of one bad value each, with the reason (prefix) it must be refused with."""
    day = 86_400_000

    def e() -> dict[str, Any]:
        return _template(rng, now_ms)

    fields = ("event_id", "network", "actor_id", "target_id", "post_id", "ts")
    makers: list[Callable[[], tuple[bytes | None, str]]] = [
        # not JSON at all, or not UTF-8
        lambda: (b"\x00" + rng.randbytes(rng.randrange(1, 200)), "not JSON"),
        lambda: (b'{"event_id": "\xff\xfe\xfd", "ts": 1}', "not JSON"),
        lambda: (b'{"event_id": "\\ud800", "ts": 1}', "not JSON"),
        lambda: (b"", "not JSON"),
        lambda: (None, "empty message"),
        lambda: (b'{"event_id": "x", "ts": NaN}', "not JSON"),
        lambda: (b"[" * 5000 + b"]" * 5000, "not JSON"),
        lambda: (
            b'{"event_id": "deep", "nested": ' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}",
            "not JSON",
        ),
        lambda: (orjson.dumps(e())[:-3], "not JSON"),
        # JSON, but not an event
        lambda: (rng.choice([b"1", b'"like"', b"null", b"true", b"2.5"]), "not an object"),
        # A JSON array is an envelope; items are judged one by one (test_envelopes.py).
        lambda: (rng.choice([b"[]", b" [ ] "]), "envelope of 0 events"),
        lambda: (lambda ev, f: (_without(ev, f), f"missing field: {f}"))(e(), rng.choice(fields)),
        lambda: (_with(e(), event_id=rng.randrange(10**9)), "wrong type: event_id"),
        lambda: (_with(e(), actor_id=["a", "b"]), "wrong type: actor_id"),
        lambda: (_with(e(), target_id={"id": "t"}), "wrong type: target_id"),
        lambda: (_with(e(), network=5), "wrong type: network"),
        lambda: (_with(e(), post_id=7), "wrong type: post_id"),
        lambda: (_with(e(), ts=str(now_ms)), "wrong type: ts"),
        lambda: (_with(e(), ts=now_ms - 0.5), "wrong type: ts"),
        lambda: (_with(e(), ts=True), "wrong type: ts"),
        lambda: (_with(e(), ts=None), "wrong type: ts"),
        lambda: (
            b'{"event_id":"big","network":"twitter","actor_id":"a","target_id":"b",'
            b'"post_id":null,"ts":123456789012345678901234567890}',
            "wrong type: ts",
        ),
        lambda: (_with(e(), event_id=""), "empty id: event_id"),
        lambda: (_with(e(), target_id=""), "empty id: target_id"),
        lambda: (_with(e(), post_id=""), "empty id: post_id"),
        lambda: (
            _with(e(), network=rng.choice(["Twitter", "x" * 40, "twïtter", "", "-x"])),
            "invalid network",
        ),
        # huge strings
        lambda: (_with(e(), actor_id="a" * rng.randrange(129, 100_000)), "id too long: actor_id"),
        lambda: (_with(e(), post_id="p" * 129), "id too long: post_id"),
        # out-of-range timestamps
        lambda: (_with(e(), ts=now_ms + day + rng.randrange(10 * 365 * day)), "ts in the future"),
        lambda: (_with(e(), ts=rng.choice([0, -5, now_ms - 91 * day])), "ts older than horizon"),
        # self-engagement
        lambda: ((lambda ev: _with(ev, actor_id=ev["target_id"]))(e()), "self-engagement"),
    ]
    while True:
        yield rng.choice(makers)


def hostile_traffic(
    settings: Settings, traffic: Traffic, seed: int
) -> tuple[list[Outgoing], list[Bad]]:
    """Interleave `traffic` with BAD_MESSAGES refusable messages; return (all, the bad ones)."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    inputs = list(settings.input_topics)
    bad: list[Bad] = []

    def key_for(value: bytes | None) -> bytes | None:
        roll = rng.random()
        if roll < 0.05 and value is not None:  # a message needs a key or a value
            return None
        if roll < 0.07:
            return b"k" * rng.randrange(DEAD_LETTER_MAX_KEY_BYTES + 1, 200_000)
        return b"hostile-target"

    # A few messages of almost the broker's limit: their dead letters must be cut to size.
    for _ in range(4):
        event = _template(rng, now_ms)
        value = _with(event, event_id="e" * (HUGE - len(_with(event, event_id=""))))
        bad.append((Outgoing(rng.choice(inputs), b"huge", value), "id too long: event_id"))
    # Messages written straight to the re-key topic without a valid kind header.
    for n in range(200):
        value = orjson.dumps(_template(rng, now_ms))
        headers = None if n % 2 else [("clout-kind", rng.choice([b"bogus", b"\xff", b""]))]
        bad.append(
            (
                Outgoing(settings.topic_rekeyed, b"x", value, headers=headers),
                "re-keyed message without a valid clout-kind header",
            )
        )
    # Re-sent valid events (same id, same bytes or changed content, same partition, later).
    correctly_keyed = [m for m in traffic.messages if m.partition is None]
    for original in rng.sample(correctly_keyed, 600):
        assert original.value is not None
        value = original.value
        if rng.random() < 0.3:
            value = _with(orjson.loads(value), ts=orjson.loads(value)["ts"] - 1000)
        bad.append((Outgoing(original.topic, original.key, value), "duplicate event_id"))
    makers = _malformed(rng, now_ms)
    while len(bad) < BAD_MESSAGES:
        value, reason = next(makers)()
        bad.append((Outgoing(rng.choice(inputs), key_for(value), value), reason))

    # Valid messages keep their order; the bad ones are scattered among them, except that a
    # re-send always comes after its original.
    slot = {id(m): (i + 0.5) / len(traffic.messages) for i, m in enumerate(traffic.messages)}
    first_slot = {orjson.loads(m.value or b"")["event_id"]: slot[id(m)] for m in correctly_keyed}
    placed: list[tuple[float, int, Outgoing]] = [
        (slot[id(m)], i, m) for i, m in enumerate(traffic.messages)
    ]
    for n, (message, reason) in enumerate(bad):
        low = 0.0
        if reason == "duplicate event_id":
            low = first_slot[orjson.loads(message.value or b"")["event_id"]]
        placed.append((rng.uniform(low, 1.0), len(traffic.messages) + n, message))
    placed.sort(key=lambda item: (item[0], item[1]))
    return [m for _, _, m in placed], bad


def odd_but_valid(settings: Settings, traffic: Traffic, seed: int) -> None:
    """Add valid events that look hostile to `traffic`: odd ids, huge unknown fields, miskeyed.

    Each goes from its own actor to its own target, so its expected effect is independent of
    everything else.
    """
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    odd_targets = ["tgt ü:*?[x]", "user:{x}", "\u202eevil", "a\x00b", "t" * 128, "💥", "*"]
    padding = "z" * (HUGE - 1_000)
    for n, target in enumerate(odd_targets + [f"big-{i}" for i in range(3)]):
        actor = f"odd-actor-{n}"
        traffic.actors[actor] = 60.0
        event = {
            "event_id": f"odd-{seed}-{n}",
            "network": "tiktok",
            "actor_id": actor,
            "target_id": target,
            "post_id": None,
            "ts": now_ms - rng.randrange(60_000, 3_600_000),
        }
        value = orjson.dumps(event)
        partition = None
        if target.startswith("big-"):
            value = orjson.dumps({**event, "padding": padding})  # unknown field: ignored
            right = partition_for(target, settings.topic_partitions)
            partition = (right + 1) % settings.topic_partitions  # forces the re-key path
        traffic.messages.append(
            Outgoing(settings.topic_shares, target.encode(), value, partition=partition)
        )
        traffic.counted.append((Kind.SHARE, event))
        traffic.targets.append(target)


async def test_hostile_input_is_refused_with_reasons_and_valid_events_count_once(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated(stack, worker_metrics_port=0, sweep_interval_s=5.0)
    topics = [*settings.input_topics, settings.topic_rekeyed]
    traffic = make_traffic(settings, seed=5, targets=350, duplicate_share=0, miskeyed_share=0.05)
    odd_but_valid(settings, traffic, seed=5)
    sequence, bad = hostile_traffic(settings, traffic, seed=5)
    assert len(bad) == BAD_MESSAGES
    params = settings.model_params()
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    worker = WorkerProcess(settings, tmp_path)
    try:
        await give_standing(client, settings, traffic.actors)
        worker.start()
        await wait_until_consuming(settings, [worker])
        positions = await produce_all(
            settings, sequence, producer_kwargs={"max_request_size": 1_100_000}
        )
        where = {id(m): p for m, p in zip(sequence, positions, strict=True)}
        await wait_caught_up(settings, topics, deadline_s=240, alive=[worker])

        worker.assert_alive()
        log = worker.log_path.read_text(errors="replace")
        assert "Traceback" not in log, worker.log_tail(60)
        assert "Restarting dead" not in log, worker.log_tail(60)

        expected = {where[id(m)]: reason for m, reason in bad}
        records = await read_all(settings, settings.topic_dead_letters, len(expected), 120)
        got: dict[tuple[str, int, int], Any] = {}
        for record in records:
            headers = {k: v for k, v in record.headers}
            origin = (
                headers["clout-error-topic"].decode(),
                int(headers["clout-error-partition"]),
                int(headers["clout-error-offset"]),
            )
            assert origin not in got, f"{origin} dead-lettered twice"
            got[origin] = (headers, record)
        assert set(got) == set(expected), (
            f"missing: {len(set(expected) - set(got))}, unexpected: {len(set(got) - set(expected))}"
        )
        wrong = [
            (origin, expected[origin], headers["clout-error-reason"][:80])
            for origin, (headers, _) in got.items()
            if not headers["clout-error-reason"].decode().startswith(expected[origin])
        ]
        assert not wrong, f"{len(wrong)} refused for another reason, e.g. {wrong[:5]}"
        for message, _ in bad:
            headers, record = got[where[id(message)]]
            if message.value is not None and len(message.value) > DEAD_LETTER_MAX_VALUE_BYTES:
                assert int(headers["clout-error-value-bytes"]) == len(message.value)
                assert record.value == message.value[:DEAD_LETTER_MAX_VALUE_BYTES]
            else:
                assert record.value == message.value
            if message.key is not None and len(message.key) > DEAD_LETTER_MAX_KEY_BYTES:
                assert int(headers["clout-error-key-bytes"]) == len(message.key)
            else:
                assert record.key == message.key

        cards = await read_cards(client, settings, traffic.targets)
        problems = card_mismatches(cards, traffic.expected_states(params), params)
        assert not problems, f"{len(problems)} differences, first: {problems[:10]}"
        assert len(await seen_positions(client, settings)) == len(traffic.counted)
        hostile = await read_cards(client, settings, [f"hostile-target-{n}" for n in range(1009)])
        assert not hostile, "a refused message produced a score"
    finally:
        worker.stop()
        await delete_prefix(client, settings.redis_key_prefix)
        await client.aclose()
