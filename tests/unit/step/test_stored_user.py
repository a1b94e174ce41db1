"""A table value's codec: signals and positions at full precision, records of earlier codecs, and
the fencing rule a restore applies (a paused worker's late record never wins)."""

from __future__ import annotations

import orjson
from clout_kernel import Signals

from app.scoring.params import ModelParams
from app.step.stored_user import StoredUser, generation_of, supersedes
from tests.support.scoring import event, fold


def test_the_codec_round_trips_signals_and_offsets_at_full_precision() -> None:
    signals = fold([event(target="bob"), event("carol", target="bob")], ModelParams())
    user = StoredUser(Signals.from_dict(signals.to_dict()))
    user.mark_applied("likes", 41)
    again = StoredUser.from_bytes(user.to_bytes())
    assert again.to_bytes() == user.to_bytes()
    assert again.applied == user.applied
    assert again.already_applied("likes", 41)
    assert not again.already_applied("likes", 42)
    assert StoredUser.from_bytes(None) == StoredUser()


def test_values_written_before_envelopes_read_as_whole_messages() -> None:
    legacy = StoredUser.from_bytes(b'{"a": {"likes": 41}, "s": null}')
    assert legacy.already_applied("likes", 41, 499)
    assert not legacy.already_applied("likes", 42, 0)


def value(generation: int, offset: int) -> bytes:
    user = StoredUser(generation=generation)
    user.mark_applied("likes", offset)
    return user.to_bytes()


def test_a_restore_keeps_the_newest_generation_not_the_last_record() -> None:
    owner, zombie = value(5, 40), value(4, 30)
    assert not supersedes(zombie, owner)  # the late record of a lost generation
    assert supersedes(owner, zombie)
    assert supersedes(value(5, 41), owner)  # same generation: the last record wins
    assert supersedes(value(5, 39), owner)
    assert supersedes(zombie, None)  # a key the store does not have yet
    assert supersedes(None, owner)  # a deletion
    legacy = b'{"p": {"likes": 100}, "s": null}'  # written before tokens: generation 0
    assert generation_of(legacy) == 0
    assert supersedes(zombie, legacy)
    assert not supersedes(legacy, zombie)
    assert supersedes(legacy, legacy)


# A record of the codec before topics (#31), as the changelog holds it (docs/scoring.md).
PREVIOUS_VERSION_RECORD = (
    b'{"p":{"clout.likes":9727,"clout.shares":2050},"s":{"L":1767225600000,"t":1767312000000,'
    b'"s":{"ltwitter":3.3131253672293752,"sinstagram":0.30701216759903255},"e":454,'
    b'"h":[833,1538,2626],"b":1.0,"a":{"alice":[1.0,1.0],'
    b'"carol":[2.0028904315907816,2.30973342409882],'
    b'"fresh1":[1.023373891996775,0.30701216759903255]}},"g":3}'
)


def test_a_record_of_the_previous_codec_decodes_and_encodes_unchanged() -> None:
    stored = StoredUser.from_bytes(PREVIOUS_VERSION_RECORD)
    assert stored.signals is not None
    assert stored.signals.topics_at(1767312000000, ModelParams()) == (0.0, {})
    assert orjson.loads(stored.to_bytes()) == orjson.loads(PREVIOUS_VERSION_RECORD)


def test_a_tagged_state_round_trips_with_its_topics() -> None:
    params = ModelParams()
    stored = StoredUser()
    python = fold([event("a", topics=("coffee", "tea")), event("b", topics=("coffee",))], params)
    stored.signals = Signals.from_dict(python.to_dict())
    again = StoredUser.from_bytes(stored.to_bytes())
    assert again.signals == stored.signals
    tagged, topics = again.signals.topics_at(1_767_225_600_000, params)  # type: ignore[union-attr]
    assert tagged == 2.0
    assert topics == {"coffee": 1.5, "tea": 0.5}
