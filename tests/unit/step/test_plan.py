"""The pure scoring plan: triage of single events and envelopes, replay checks, the fold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.kafka.topics import partition_for
from app.scoring.events import ENVELOPE_MAX_EVENTS, Kind
from app.scoring.model import DEFAULT_CURVE, actor_weight, raw_for_score, score_from_raw
from app.scoring.params import ModelParams
from app.step import plan
from app.step.plan import Position
from app.step.stored_user import StoredUser
from tests.support.kernel import Msg
from tests.support.scoring import T0

PARTITIONS = 8
ROUTING = plan.Routing({"likes": Kind.LIKE, "shares": Kind.SHARE}, "rekeyed", PARTITIONS)
PARAMS = ModelParams()
RULES = PARAMS.event_rules
TRUSTED_RAW = raw_for_score(50.0, DEFAULT_CURVE)
"""A stored raw that grades at the pivot (score 50: weight 1.0, never burst-damped)."""


def wire(target: str = "bob", actor: str = "alice", event_id: str = "e1", **extra: Any) -> dict:
    doc = {
        "event_id": event_id,
        "network": "twitter",
        "actor_id": actor,
        "target_id": target,
        "post_id": None,
        "ts": T0,
    }
    return {**doc, **extra}


def home(target: str) -> int:
    return partition_for(target, PARTITIONS)


def run(*messages: Msg) -> plan.Triage:
    return plan.triage(messages, T0, RULES, ROUTING, partition_for)


def test_a_single_event_message_is_accepted_at_its_position_without_an_index() -> None:
    out = run(Msg("likes", home("bob"), 7, orjson.dumps(wire())))
    (accepted,) = out.accepted
    assert accepted.event.target_id == "bob"
    assert accepted.event.kind is Kind.LIKE
    assert accepted.position == Position("likes", home("bob"), 7, None)
    assert accepted.position.token() == f"likes:{home('bob')}:7"
    assert (out.dead_letters, out.rekeys, dict(out.events)) == ([], [], {"likes": 1})


def test_each_envelope_item_is_judged_on_its_own_and_refusals_name_their_index() -> None:
    partition = home("bob")
    items = [
        wire(event_id="a", kind="like"),
        wire(event_id="b", kind="like", network=None),  # invalid
        wire(event_id="c", kind="share"),  # not this topic's kind
        wire(event_id="d"),  # no kind at all
        wire(event_id="e", kind="like", actor="carol"),
    ]
    out = run(Msg("likes", partition, 3, orjson.dumps(items)))
    assert [a.event.event_id for a in out.accepted] == ["a", "e"]
    assert [a.position for a in out.accepted] == [
        Position("likes", partition, 3, 0),
        Position("likes", partition, 3, 4),
    ]
    assert out.accepted[1].position.token() == f"likes:{partition}:3:4"
    assert [(d.index, d.reason) for d in out.dead_letters] == [
        (1, "wrong type: network"),
        (2, "kind is not 'like' (the topic's kind)"),
        (3, "missing field: kind"),
    ]
    assert out.dead_letters[0].item == items[1]
    assert out.events == {"likes": 5}


@pytest.mark.parametrize(
    ("size", "reason"),
    [(0, "envelope of 0 events"), (ENVELOPE_MAX_EVENTS + 1, "envelope of 501 events")],
)
def test_an_envelope_of_no_or_too_many_events_is_refused_whole(size: int, reason: str) -> None:
    items = [wire(event_id=str(i), kind="like") for i in range(size)]
    out = run(Msg("likes", home("bob"), 1, orjson.dumps(items)))
    (refused,) = out.dead_letters
    assert refused.index is None
    assert refused.reason.startswith(reason)
    assert out.accepted == []


def test_unreadable_messages_are_refused_whole() -> None:
    out = run(Msg("likes", 0, 1, b"{nope"), Msg("likes", 0, 2, None))
    assert [(d.message, d.index) for d in out.dead_letters] == [(0, None), (1, None)]
    assert out.dead_letters[0].reason.startswith("not JSON")
    assert out.dead_letters[1].reason == "empty message"


def test_an_event_on_another_users_partition_is_re_keyed_and_never_accepted() -> None:
    wrong = (home("bob") + 1) % PARTITIONS
    items = [wire(event_id="x", kind="like"), wire(target="dave", event_id="y", kind="like")]
    out = run(Msg("likes", wrong, 5, orjson.dumps(items)))
    rekeyed = {r.event.event_id for r in out.rekeys}
    accepted = {a.event.event_id for a in out.accepted}
    assert rekeyed | accepted == {"x", "y"}
    assert "x" in rekeyed
    assert ("y" in accepted) == (home("dave") == wrong)


def test_the_re_key_topic_takes_single_events_with_a_kind_header_only() -> None:
    header = [(plan.KIND_HEADER, b"share")]
    right, wrong = home("bob"), (home("bob") + 1) % PARTITIONS
    out = run(
        Msg("rekeyed", right, 1, orjson.dumps(wire()), header),
        Msg("rekeyed", wrong, 2, orjson.dumps(wire(event_id="e2")), header),
        Msg("rekeyed", right, 3, orjson.dumps([wire(kind="share")]), header),
        Msg("rekeyed", right, 4, orjson.dumps(wire(event_id="e4"))),
    )
    (accepted,) = out.accepted
    assert accepted.event.kind is Kind.SHARE
    assert [(d.message, d.reason) for d in out.dead_letters] == [
        (1, plan.REKEY_LOOP_REASON),
        (2, plan.ENVELOPE_ON_REKEY_REASON),
        (3, "re-keyed message without a valid clout-kind header"),
    ]


def test_replays_are_recognised_per_offset_and_index() -> None:
    partition = home("bob")
    items = [wire(event_id=str(i), kind="like", actor=f"a{i}") for i in range(3)]
    out = run(Msg("likes", partition, 10, orjson.dumps(items)))
    state = StoredUser()
    state.mark_applied("likes", 10, 1)  # a crash after items 0 and 1 were applied
    fresh, replayed = plan.split_replays(out.accepted, {"bob": state})
    assert [a.position.index for a in fresh] == [2]
    assert [a.position.index for a in replayed] == [0, 1]
    state.mark_applied("likes", 9)  # an older position never moves the watermark back
    assert state.already_applied("likes", 10, 1)
    assert not state.already_applied("likes", 10, 2)
    assert not state.already_applied("likes", 11)


def test_a_single_event_message_counts_as_its_whole_offset() -> None:
    state = StoredUser()
    state.mark_applied("likes", 10)
    assert state.already_applied("likes", 10, 499)
    assert not state.already_applied("likes", 11, 0)
    assert not state.already_applied("shares", 10)


def test_fold_applies_first_sightings_and_leaves_duplicates_out() -> None:
    partition = home("bob")
    items = [wire(event_id=str(i), kind="like", actor=f"a{i}") for i in range(3)]
    out = run(Msg("likes", partition, 4, orjson.dumps(items)))
    states = {"bob": StoredUser()}
    standing = {"a0": 50.0, "a1": None, "a2": 80.0}
    folded = plan.fold(out.accepted, [True, False, True], states, standing, PARAMS)
    assert [a.event.event_id for a in folded.counted] == ["0", "2"]
    assert [a.event.event_id for a in folded.duplicates] == ["1"]
    assert folded.changed_users == {"bob"}
    assert states["bob"].signals is not None
    assert states["bob"].already_applied("likes", 4, 2)
    assert not states["bob"].already_applied("likes", 4, 3)


def test_a_message_delivered_twice_in_one_batch_is_kept_once() -> None:
    batch = [
        Msg("likes", 1, 7, None),
        Msg("likes", 1, 8, None),
        Msg("likes", 1, 7, None),
        Msg("likes", 2, 7, None),
        Msg("shares", 1, 7, None),
    ]
    assert plan.once_per_position(batch) == [0, 1, 3, 4]


def test_a_batch_of_envelopes_is_triaged_in_parts_of_whole_messages() -> None:
    partition = home("bob")
    messages = [
        Msg(
            "likes",
            partition,
            offset,
            orjson.dumps([wire(event_id=f"{offset}-{i}", kind="like") for i in range(3)]),
        )
        for offset in range(4)
    ]
    parts = list(plan.triage_in_chunks(messages, T0, RULES, ROUTING, partition_for, max_events=5))
    assert [p.events.total() for p in parts] == [6, 6]  # a part ends with the message reaching 5
    assert [{a.message for a in p.accepted} for p in parts] == [{0, 1}, {2, 3}]
    assert [a.position.offset for p in parts for a in p.accepted] == [
        o for o in range(4) for _ in range(3)
    ]
    whole = plan.triage(messages, T0, RULES, ROUTING, partition_for)
    assert len(whole.accepted) == 12
    assert plan.triage([], T0, RULES, ROUTING, partition_for) == plan.Triage()


def test_an_actor_this_batch_changed_is_graded_from_its_state_not_from_redis() -> None:
    partition = home("carol")
    out = run(
        *(
            Msg("likes", partition, i, orjson.dumps(wire("carol", f"x{i}", str(i))))
            for i in range(20)
        )
    )
    carol = StoredUser()
    plan.fold(
        out.accepted, [True] * 20, {"carol": carol}, {f"x{i}": 90.0 for i in range(20)}, PARAMS
    )
    assert carol.signals is not None
    unscored = {"carol": carol, "dave": StoredUser()}  # dave: changed by duplicates only
    actors = ["bob", "carol", "dave"]
    assert plan.stored_standing_needed(actors, unscored) == ["bob", "dave"]
    stored = {"bob": 2.0, "dave": None}
    curve = DEFAULT_CURVE
    standing = plan.standings(actors, stored, unscored, T0, PARAMS, curve)
    assert standing["bob"] == score_from_raw(2.0, curve)
    assert standing["dave"] is None
    assert standing["carol"] == score_from_raw(carol.signals.raw_at(T0, PARAMS), curve)
    graded = standing["carol"]
    assert graded is not None
    assert graded > score_from_raw(0.0, curve)  # the 20 likes it has so far count


def test_a_part_fold_asks_for_verdicts_then_the_standings_its_states_cannot_give() -> None:
    partition = home("bob")
    items = [
        wire(event_id="0", kind="like", actor="carol"),
        wire(event_id="1", kind="like", actor="dave"),
        wire(event_id="2", kind="like", actor="erin"),
        wire(event_id="3", kind="like", actor="frank"),
    ]
    out = run(Msg("likes", partition, 5, orjson.dumps(items)))
    bob = StoredUser()
    bob.mark_applied("likes", 5, 0)  # item 0 was applied before a crash: a replay
    part = plan.PartFold(out.accepted, {"bob": bob})
    assert [a.event.event_id for a in part.replayed] == ["0"]
    assert part.sightings() == [
        ("1", f"likes:{partition}:5:1"),
        ("2", f"likes:{partition}:5:2"),
        ("3", f"likes:{partition}:5:3"),
    ]
    erin = StoredUser()
    plan.fold(
        run(Msg("likes", home("erin"), 0, orjson.dumps(wire("erin", "x")))).accepted,
        [True],
        {"erin": erin},
        {"x": None},
        PARAMS,
    )
    # dave's event is a re-send (not counted, not weighed); erin's standing is her state's
    stored = part.stored_actors([False, True, True], {"bob": bob, "erin": erin})
    assert stored == ["frank"]
    folded = part.fold([TRUSTED_RAW], {"bob": bob, "erin": erin}, T0, PARAMS, DEFAULT_CURVE)
    assert [a.event.event_id for a in folded.counted] == ["2", "3"]
    assert [a.event.event_id for a in folded.duplicates] == ["1"]
    assert bob.signals is not None
    weights = dict(bob.signals.top_actors_at(T0, PARAMS, 5))
    assert set(weights) == {"erin", "frank"}
    assert weights["frank"] == pytest.approx(
        actor_weight(score_from_raw(TRUSTED_RAW, DEFAULT_CURVE), PARAMS)
    )
