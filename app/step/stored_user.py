"""Per-user state as the worker's table keeps it: signals, positions applied, fencing token.

The one codec of a table value, shared by the worker (streams/state.py caches and writes it) and
the simulation (app/simulation/replay.py keeps one per user), so both apply the same replay rule.
Values are orjson bytes. `applied` records, per input topic, the highest position folded into the
state; an event at or below it is a replay (at-least-once redelivery after a crash) and is not
counted again, which makes state updates idempotent without Kafka transactions.

Every value also carries the fencing token of its writer: the consumer group generation in which
the writer was assigned the user's partition. The coordinator hands out generations in order, so
a worker that lost its partitions while paused (a "zombie") always writes a lower one than the
new owner; `supersedes` is the rule a table restore applies, so a zombie's late record never
replaces the new owner's (docs/guarantees.md, "Fencing a paused worker").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from clout_kernel import Signals

from app.scoring.events import ENVELOPE_MAX_EVENTS

SLOTS_PER_MESSAGE = 512
"""Positions per message in the applied watermark: envelope items 0..510, a whole message 511."""
_WHOLE_MESSAGE = SLOTS_PER_MESSAGE - 1
assert ENVELOPE_MAX_EVENTS < _WHOLE_MESSAGE


def _sequence(offset: int, index: int | None) -> int:
    """(offset, index) as one increasing number; a single-event message is its last slot."""
    return offset * SLOTS_PER_MESSAGE + (_WHOLE_MESSAGE if index is None else index)


@dataclass(slots=True)
class StoredUser:
    """What the table keeps for one user: signals, and per topic the last position applied.

    `applied` maps a topic to `offset * SLOTS_PER_MESSAGE + slot` of the last event folded in
    (slot: the envelope index, or the last slot for a single-event message), so one integer per
    topic orders positions both across messages and within an envelope.
    """

    signals: Signals | None = None
    """The kernel's state (`UserSignals` compiled; the same table form, so records written by the
    Python model decode)."""
    applied: dict[str, int] = field(default_factory=dict)
    generation: int = 0
    """The writer's fencing token (0: written before tokens existed)."""

    def already_applied(self, topic: str, offset: int, index: int | None = None) -> bool:
        """Whether the event at (topic, offset, index) of this user's partition was counted."""
        return _sequence(offset, index) <= self.applied.get(topic, -1)

    def mark_applied(self, topic: str, offset: int, index: int | None = None) -> None:
        """Record that the event at (topic, offset, index) is folded into the signals."""
        sequence = _sequence(offset, index)
        if sequence > self.applied.get(topic, -1):
            self.applied[topic] = sequence

    def to_bytes(self) -> bytes:
        """Serialize for the table (floats exact, see `UserSignals.to_dict`, whose form the
        kernel's `Signals.to_json` writes key for key): the bytes orjson gives
        `{"p": applied, "s": the signals' form, "g": generation}`."""
        signals = b"null" if self.signals is None else self.signals.to_json()
        return b'{"p":%b,"s":%b,"g":%d}' % (orjson.dumps(self.applied), signals, self.generation)

    @classmethod
    def from_bytes(cls, data: bytes | None) -> StoredUser:
        """Deserialize a table value; None (no entry) is a new user.

        Values written before envelopes existed hold plain offsets under "a"; each one means
        the whole message at that offset was applied.
        """
        if data is None:
            return cls()
        doc = orjson.loads(data)
        signals = None if doc["s"] is None else Signals.from_dict(doc["s"])
        if "p" in doc:
            applied = dict(doc["p"])
        else:
            applied = {topic: _sequence(offset, None) for topic, offset in doc["a"].items()}
        return cls(signals=signals, applied=applied, generation=doc.get("g", 0))


def generation_of(value: bytes | None) -> int:
    """The fencing token a table value was written with (-1 for no value or a deletion)."""
    if value is None:
        return -1
    generation: int = orjson.loads(value).get("g", 0)
    return generation


def supersedes(incoming: bytes | None, current: bytes | None) -> bool:
    """Whether a changelog record may replace the stored value of its key during a restore.

    A record written in the same or a later generation than the stored value replaces it (the
    last one wins within a generation, as Faust's own restore does); one from an earlier
    generation is a paused worker's late write, written after the key moved, and is dropped.
    A deletion always applies (Clout never deletes; Faust's tombstones keep their meaning).
    """
    return incoming is None or generation_of(incoming) >= generation_of(current)
