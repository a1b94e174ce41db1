"""The producer SDK and `clout publish` on the real Kafka: validated, keyed, none lost silently."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.core.settings import Settings
from app.kafka.publisher import EventPublisher, event_rules
from app.kafka.topics import partition_for
from app.scoring.events import InvalidEvent, Kind, event_to_json_dict, validate_event
from tests.support.cli import clout
from tests.support.kafka import created_topics, make_event, read_all

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
async def topics(isolated_settings: Settings) -> AsyncIterator[Settings]:
    """The test's three input topics, created up front and deleted afterwards."""
    async with created_topics(isolated_settings, isolated_settings.input_topics, PARTITIONS):
        yield isolated_settings


async def test_a_valid_event_is_sent_keyed_by_its_target(topics: Settings) -> None:
    sent = make_event(target="alice", post_id="p-1", extra_field="ignored", topics=["tea", "tea"])
    async with EventPublisher(topics) as publisher:
        result = await publisher.publish("share", sent)
    assert result.accepted
    assert result.reason is None
    assert (result.event_id, result.topic) == (sent["event_id"], topics.topic_shares)
    assert result.partition is not None
    assert result.offset is not None

    (record,) = await read_all(topics, topics.topic_shares, expected=1, drain=True)
    assert record.key == b"alice"
    assert (record.partition, record.offset) == (result.partition, result.offset)
    canonical = event_to_json_dict(
        validate_event(sent, Kind.SHARE, sent["ts"], event_rules(topics))
    )
    assert orjson.loads(record.value) == canonical
    assert canonical["topics"] == ["tea"]


async def test_invalid_events_are_rejected_with_the_workers_reason(topics: Settings) -> None:
    bad = [
        ("like", make_event(actor="alice", target="alice")),
        ("like", {k: v for k, v in make_event().items() if k != "network"}),
        ("like", make_event(ts=int(time.time() * 1000) + 3_600_000)),
        ("like", "not an object"),
        ("poke", make_event()),
        ("like", make_event(topics="coffee")),
        ("like", make_event(topics=["#coffee"])),
        ("like", make_event(topics=["a", "b", "c", "d", "e", "f"])),
    ]
    now = int(time.time() * 1000)
    rules = event_rules(topics)
    expected = []
    for kind, body in bad[:4]:
        with pytest.raises(InvalidEvent) as caught:
            validate_event(body, Kind(kind), now, rules)
        expected.append(caught.value.reason)
    async with EventPublisher(topics) as publisher:
        results = await publisher.publish_many(bad)
    assert [r.accepted for r in results] == [False] * 8
    assert [r.reason for r in results] == [
        *expected,
        "unknown kind: 'poke'",
        "wrong type: topics",
        "invalid topic",
        "too many topics",
    ]
    assert results[0].event_id == bad[0][1]["event_id"]  # type: ignore[index]
    assert await read_all(topics, topics.topic_likes, expected=0, deadline_s=1, drain=True) == []


async def test_publish_many_keeps_order_and_routes_by_kind(topics: Settings) -> None:
    batch: list[tuple[Kind | str, Any]] = [
        (Kind.LIKE, make_event(target="t1")),
        ("mention", make_event(target="t2")),
        ("like", make_event(actor="x", target="x")),  # rejected in the middle
        ("share", make_event(target="t3")),
        ("like", make_event(target="t1")),
    ]
    async with EventPublisher(topics, envelopes=False) as publisher:
        results = await publisher.publish_many(batch)
    assert [r.accepted for r in results] == [True, True, False, True, True]
    assert [r.topic for r in results] == [
        topics.topic_likes,
        topics.topic_mentions,
        None,
        topics.topic_shares,
        topics.topic_likes,
    ]
    likes = await read_all(topics, topics.topic_likes, expected=2, drain=True)
    assert [orjson.loads(r.value)["event_id"] for r in sorted(likes, key=lambda r: r.offset)] == [
        batch[0][1]["event_id"],
        batch[4][1]["event_id"],
    ]
    assert {r.partition for r in likes} == {results[0].partition}  # same key, same partition


async def test_a_publisher_must_be_started(isolated_settings: Settings) -> None:
    publisher = EventPublisher(isolated_settings)
    with pytest.raises(RuntimeError, match="not started"):
        await publisher.publish("like", make_event())


def rejected_rows(out: str) -> dict[int, str]:
    """{line number: reason} from the summary's "Rejected lines" table."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"^│\s*(\d+)\s*│\s*(.*?)\s*│$", out, flags=re.MULTILINE)
    }


async def test_clout_publish_sends_good_lines_and_reports_bad_ones(
    topics: Settings, tmp_path: Path
) -> None:
    good = [
        {"kind": "like", **make_event(target="alice")},
        {"kind": "share", **make_event(target="bob")},
        {"kind": "mention", **make_event(target="carol")},
        {"kind": "like", **make_event(target="dave")},
    ]
    lines = [
        orjson.dumps(good[0]),  # 1
        b"{broken json",  # 2
        orjson.dumps(good[1]),  # 3
        b"",  # 4: blank, skipped
        orjson.dumps({k: v for k, v in good[2].items() if k != "kind"}),  # 5: no kind
        orjson.dumps(good[2]),  # 6
        orjson.dumps(
            {"kind": "like", **make_event(actor="eve", target="eve")}
        ),  # 7: self-engagement
        orjson.dumps({"kind": "poke", **make_event()}),  # 8: unknown kind
        orjson.dumps(good[3]),  # 9
    ]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code, out, err = await clout(topics, "publish", str(path))

    assert code == 1, err
    assert "accepted 4, rejected 4" in out
    assert "1 blank lines skipped" in out
    rejected = rejected_rows(out)
    assert sorted(rejected) == [2, 5, 7, 8]
    assert rejected[2].startswith("not JSON")
    assert rejected[5] == "missing field: kind"
    assert rejected[7] == "self-engagement"
    assert rejected[8] == "unknown kind: 'poke'"

    sent: dict[str, set[str]] = {}
    for topic, expected in (
        (topics.topic_likes, 2),
        (topics.topic_shares, 1),
        (topics.topic_mentions, 1),
    ):
        records = await read_all(topics, topic, expected=expected, drain=True)
        sent[topic] = {orjson.loads(r.value)["event_id"] for r in records}
        assert all(r.key == orjson.loads(r.value)["target_id"].encode() for r in records)
    assert sent == {
        topics.topic_likes: {good[0]["event_id"], good[3]["event_id"]},
        topics.topic_shares: {good[1]["event_id"]},
        topics.topic_mentions: {good[2]["event_id"]},
    }


async def test_clout_publish_with_a_forced_kind(topics: Settings, tmp_path: Path) -> None:
    ok = make_event(target="zed")
    path = tmp_path / "likes.ndjson"
    path.write_bytes(
        orjson.dumps(ok) + b"\n" + orjson.dumps({"kind": "share", **make_event()}) + b"\n"
    )

    code, out, _ = await clout(topics, "publish", "--kind", "like", str(path))

    assert code == 1
    assert "accepted 1, rejected 1" in out
    assert rejected_rows(out) == {2: "kind 'share' conflicts with --kind like"}
    (record,) = await read_all(topics, topics.topic_likes, expected=1, drain=True)
    assert orjson.loads(record.value)["event_id"] == ok["event_id"]


async def test_clout_publish_of_a_clean_file_exits_0(topics: Settings, tmp_path: Path) -> None:
    path = tmp_path / "clean.ndjson"
    path.write_bytes(
        b"".join(orjson.dumps({"kind": "like", **make_event()}) + b"\n" for _ in range(3))
    )
    code, out, _ = await clout(topics, "publish", str(path))
    assert code == 0
    assert "accepted 3, rejected 0" in out


async def test_clout_publish_of_a_missing_file_exits_2(
    isolated_settings: Settings, tmp_path: Path
) -> None:
    code, _, err = await clout(isolated_settings, "publish", str(tmp_path / "nope.ndjson"))
    assert code == 2
    assert "cannot read" in err


async def test_events_sharing_a_topic_and_partition_travel_in_one_envelope(
    topics: Settings,
) -> None:
    partitions = PARTITIONS  # the fixture's topics; the publisher asks the broker
    targets = [f"env-{i}" for i in range(80)]
    home = partition_for(targets[0], partitions)
    together = [t for t in targets if partition_for(t, partitions) == home][:3]
    alone = next(t for t in targets if partition_for(t, partitions) != home)
    assert len(together) == 3
    batch: list[tuple[Kind | str, Any]] = [("like", make_event(target=t)) for t in together]
    batch.append(("like", make_event(target=alone)))
    batch.append(("like", make_event(actor="x", target="x")))  # rejected, sent nowhere
    async with EventPublisher(topics, envelope_max_events=2) as publisher:
        results = await publisher.publish_many(batch)
    assert [r.accepted for r in results] == [True, True, True, True, False]
    assert [(r.partition, r.index) for r in results[:3]] == [(home, 0), (home, 1), (home, None)]
    assert results[0].offset == results[1].offset != results[2].offset
    records = sorted(
        await read_all(topics, topics.topic_likes, expected=3, drain=True),
        key=lambda r: (r.partition, r.offset),
    )
    assert len(records) == 3
    by_partition = {r.partition: [] for r in records}
    for record in records:
        by_partition[record.partition].append(record)
    envelope, plain = by_partition[home]
    items = orjson.loads(envelope.value)
    assert [i["event_id"] for i in items] == [e["event_id"] for _, e in batch[:2]]
    assert [i["kind"] for i in items] == ["like", "like"]
    assert orjson.loads(plain.value)["event_id"] == batch[2][1]["event_id"]
    assert plain.key == together[2].encode()
    (single,) = [r for r in records if r.partition != home]
    assert single.key == alone.encode()
    assert "kind" not in orjson.loads(single.value)
