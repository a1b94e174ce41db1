"""Envelopes under a crash: every item judged on its own, counted exactly once across a SIGKILL.

The reliability traffic (exact expectations, duplicates, mis-keyed events) is sent as envelopes
of up to 100 events per (topic, partition), with refusable items mixed in. The worker is killed
mid-stream; a successor with an empty table store (rebuilt from the changelog) finishes. Replay
detection works per (offset, index): the final cards must equal one exact run, every counted
event must have one first sighting, and every refused item exactly one dead letter naming its
index (a crash may repeat a dead letter: they are at-least-once, like every Kafka write).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from app.core.settings import Settings
from app.kafka.topics import partition_for
from streams.executor import DUPLICATE_REASON
from tests.support.crash_scenario import CRASH_TEST_MARKS, crash_scenario
from tests.support.kafka import read_all
from tests.support.outcome import seen_positions, wait_for_exact_cards
from tests.support.traffic import Outgoing, produce_all
from tests.support.worker import WorkerProcess, wait_caught_up, wait_until_consuming

pytestmark = CRASH_TEST_MARKS

ENVELOPE_EVENTS = 100
REFUSABLE: list[tuple[Any, str]] = [
    ({}, "missing field: event_id"),  # given the topic's kind below
    (7, "not an object"),
    ("like", "not an object"),
]


def as_envelopes(
    settings: Settings, messages: list[Outgoing]
) -> tuple[list[Outgoing], dict[tuple[int, int], str]]:
    """The messages regrouped into envelopes per (topic, partition), in order within each.

    Every third envelope gets a refusable item (or, for a share topic, an item of the wrong
    kind). Returns the envelopes and, per (envelope number, index), the reason it must be refused.
    """
    kind_of = {topic: kind for kind, topic in settings.topic_of_kind.items()}
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for m in messages:
        assert m.value is not None
        item = {**orjson.loads(m.value), "kind": kind_of[m.topic].value}
        partition = m.partition
        if partition is None:
            partition = partition_for(item["target_id"], settings.topic_partitions)
        groups[(m.topic, partition)].append(item)
    envelopes: list[Outgoing] = []
    refused: dict[tuple[int, int], str] = {}
    for (topic, partition), items in groups.items():
        for start in range(0, len(items), ENVELOPE_EVENTS):
            chunk = list(items[start : start + ENVELOPE_EVENTS])
            number = len(envelopes)
            if number % 3 == 0:
                bad, reason = REFUSABLE[(number // 3) % len(REFUSABLE)]
                if isinstance(bad, dict):
                    bad = {**bad, "kind": kind_of[topic].value}
                if topic == settings.topic_shares:
                    bad, reason = {**chunk[0], "kind": "like"}, "kind is not 'share'"
                spot = number % (len(chunk) + 1)
                chunk.insert(spot, bad)
                refused[(number, spot)] = reason
            envelopes.append(Outgoing(topic, None, orjson.dumps(chunk), partition))
    return envelopes, refused


async def test_envelopes_count_every_item_once_across_a_crash(
    stack: Settings, tmp_path: Path
) -> None:
    async with crash_scenario(stack, seed=53, targets=1200, batch_max_events=50) as run:
        settings, traffic, topics, client = run.settings, run.traffic, run.topics, run.redis
        envelopes, refused = as_envelopes(settings, traffic.messages)
        assert len(envelopes) > 40
        victim = WorkerProcess(settings, tmp_path, "victim", loglevel="info")
        successor = WorkerProcess(settings, tmp_path, "successor", loglevel="info")
        try:
            victim.start()
            await wait_until_consuming(settings, [victim])
            producing = asyncio.create_task(produce_all(settings, envelopes))
            # Kill once part of the traffic is applied, mid-envelope stream.
            deadline = time.monotonic() + 120
            while len(await seen_positions(client, settings)) < len(traffic.counted) // 3:
                victim.assert_alive()
                assert time.monotonic() < deadline, "the victim applied too little"
                await asyncio.sleep(0.2)
            victim.stop(signal.SIGKILL)
            successor.start()
            await wait_until_consuming(settings, [successor])
            positions = await producing
            await wait_for_exact_cards(client, settings, traffic, deadline_s=240, alive=[successor])
            await wait_caught_up(settings, topics, deadline_s=120, alive=[successor])
            assert len(await seen_positions(client, settings)) == len(traffic.counted)

            want = {
                (positions[number][0], positions[number][1], positions[number][2], index): reason
                for (number, index), reason in refused.items()
            }
            records = await read_all(
                settings,
                settings.topic_dead_letters,
                len(want) + traffic.duplicates,
                60,
                drain=True,
            )
            got: dict[tuple[str, int, int, int], str] = {}
            for record in records:
                headers = {k: v.decode() for k, v in record.headers}
                if headers["clout-error-reason"] == DUPLICATE_REASON:
                    # a repeated envelope item is dead-lettered as itself, not as its whole envelope
                    # (a repeated re-keyed copy is a single-event message of the re-key topic)
                    if headers["clout-error-topic"] != settings.topic_rekeyed:
                        repeat = orjson.loads(record.value)
                        assert "clout-error-index" in headers, headers
                        assert repeat["kind"] in ("like", "share", "mention"), repeat
                    continue
                where = (
                    headers["clout-error-topic"],
                    int(headers["clout-error-partition"]),
                    int(headers["clout-error-offset"]),
                    int(headers["clout-error-index"]),
                )
                # Dead letters are at-least-once: the successor re-reads what the victim had not
                # committed, refusing those items again with the same reason.
                assert (
                    got.setdefault(where, headers["clout-error-reason"])
                    == headers["clout-error-reason"]
                )
                item = orjson.loads(record.value)
                envelope_items = orjson.loads(envelopes[positions.index(where[:3])].value or b"[]")
                assert item == envelope_items[where[3]], "the dead letter carries the refused item"
            assert set(got) == set(want)
            assert all(got[k].startswith(reason) for k, reason in want.items()), got
            successor.assert_alive()
        finally:
            victim.stop(signal.SIGKILL)
            successor.stop()
