"""The kernel's triage hands back to the Python reference what it cannot judge exactly, and the
verdicts come out in batch order either way."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from app.kafka.topics import partition_for
from app.scoring.events import Kind
from app.scoring.params import ModelParams
from app.step import plan
from tests.support.kernel import Msg
from tests.support.scoring import T0

ROUTING = plan.Routing({"likes": Kind.LIKE}, "rekeyed", 8)
RULES = ModelParams().event_rules
HOME = partition_for("bob", 8)
EVENT = b'{"event_id":"e","network":"twitter","actor_id":"al","target_id":"bob","post_id":null,'


def test_deferred_messages_keep_their_place_in_the_batch() -> None:
    batch = [
        Msg("likes", HOME, 0, EVENT + b'"ts":-0}'),  # orjson reads the integer 0
        Msg("likes", HOME, 1, EVENT + b'"ts":%d}' % T0),
        Msg("likes", HOME, 2, b"[" + EVENT + b'"ts":1e400}]'),  # orjson: not JSON
        Msg("likes", HOME, 3, EVENT + b'"ts":-0.0}'),
        Msg("rekeyed", HOME, 4, EVENT + b'"ts":%d}' % T0, [(plan.KIND_HEADER, b"like")]),
    ]
    out = plan.triage(batch, T0, RULES, ROUTING, partition_for)
    assert [(d.message, d.reason) for d in out.dead_letters] == [
        (0, "ts older than horizon"),
        (2, "not JSON: number is infinity when parsed as double"),
        (3, "wrong type: ts"),
    ]
    assert [a.message for a in out.accepted] == [1, 4]
    assert out.events == {"likes": 4, "rekeyed": 1}
    reference = next(plan.reference_triage(batch, T0, RULES, ROUTING, partition_for, None))
    assert out == reference


def test_a_refused_envelope_item_is_forwarded_as_orjson_decoded_it() -> None:
    item = b'{"kind":"like","actor_id":"x","actor_id":"bob","n":1.50}'
    out = plan.triage(
        [Msg("likes", HOME, 0, b"[" + item + b"]")], T0, RULES, ROUTING, partition_for
    )
    (refused,) = out.dead_letters
    assert refused.item == orjson.loads(item) == {"kind": "like", "actor_id": "bob", "n": 1.5}
    assert refused.reason == "missing field: event_id"


class _ReadCounting(list[Msg]):
    """A batch that records which of its messages were read, and when."""

    read: list[int]

    def __iter__(self) -> Iterator[Msg]:
        self.read = []
        for number, message in enumerate(super().__iter__()):
            self.read.append(number)
            yield message


def test_a_part_is_judged_only_when_it_is_asked_for() -> None:
    """A batch of envelopes may hold far more events than a part: the messages of later parts
    are not read (so their events are not built) before the earlier parts are carried out."""
    batch = _ReadCounting(Msg("likes", HOME, n, EVENT + b'"ts":%d}' % T0) for n in range(6))
    parts = plan.triage_in_chunks(batch, T0, RULES, ROUTING, partition_for, max_events=2)
    first = next(parts)
    assert [a.message for a in first.accepted] == [0, 1]
    assert batch.read == [0, 1]
    assert [[a.message for a in part.accepted] for part in parts] == [[2, 3], [4, 5]]
    assert batch.read == [0, 1, 2, 3, 4, 5]
