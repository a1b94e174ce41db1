"""Attribution of a score movement: the parts add up, and silence is decay (and refits) only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring.attribution import (
    OTHER_NETWORKS,
    SNAPSHOT_NETWORKS_PER_KIND,
    Snapshot,
    attribute,
    snapshot_of,
)
from app.scoring.card import ActorContribution, ScoreCard
from app.scoring.curve import DEFAULT_CURVE, Curve
from app.scoring.decay import MS_PER_DAY, MS_PER_HOUR, decay_factor
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import score_card
from app.scoring.params import KIND_CODE, ModelParams
from app.scoring.signals import UserSignals, apply_event
from tests.support.cards import stored_snapshot

PARAMS = ModelParams()
T0 = 1_767_225_600_000
NETWORKS = ("twitter", "instagram", "tiktok", "youtube", "reddit", "twitch")

# An event as drawn: (offset ms within its period, kind, network, actor, actor score or None).
_events = st.lists(
    st.tuples(
        st.integers(0, 10 * MS_PER_DAY),
        st.sampled_from(list(Kind)),
        st.sampled_from(NETWORKS),
        st.sampled_from([f"a{i}" for i in range(12)]),
        st.one_of(st.none(), st.floats(1.0, 100.0)),
    ),
    max_size=40,
)


Drawn = tuple[int, Kind, str, str, float | None]


def _fold(state: UserSignals | None, drawn: Sequence[Drawn], start_ms: int) -> UserSignals | None:
    for n, (offset, kind, network, actor, actor_score) in enumerate(drawn):
        item = EngagementEvent(
            f"e{start_ms}-{n}", kind, network, actor, "bob", None, start_ms + offset
        )
        state = apply_event(state, item, actor_score, PARAMS)
    return state


def _card(state: UserSignals | None, now_ms: int, curve: Curve) -> ScoreCard:
    if state is None:  # never engaged: the card of an empty state
        state = UserSignals(now_ms, PARAMS.horizon_ms)
    return score_card("bob", state, now_ms, PARAMS, curve)


def _shifted(curve: Curve, by: float, version: int) -> Curve:
    """Another curve: every grid score moved by `by` (kept in [1, 100])."""
    scores = tuple(min(100.0, max(1.0, s + by)) for s in curve.scores)
    return dataclasses.replace(curve, version=version, scores=scores)


@settings(max_examples=300, deadline=None)
@given(before=_events, during=_events, quiet_days=st.integers(0, 5), refit=st.floats(-2.0, 2.0))
def test_parts_add_up_to_the_change_in_raw(
    before: list[Drawn],
    during: list[Drawn],
    quiet_days: int,
    refit: float,
) -> None:
    old_curve, new_curve = DEFAULT_CURVE, _shifted(DEFAULT_CURVE, refit, 1)
    state = _fold(None, before, T0)
    then = snapshot_of(_card(state, T0 + 10 * MS_PER_DAY, old_curve))
    state = _fold(state, during, T0 + 10 * MS_PER_DAY + 1)
    now = _card(state, T0 + (21 + quiet_days) * MS_PER_DAY, new_curve)

    moved = attribute(then, now, PARAMS, new_curve)

    assert abs(moved.decay + moved.new_engagement - moved.raw_change) <= 1e-9
    assert moved.raw_change == now.raw - then.raw
    for cell in moved.cells:
        assert abs(cell.decay + cell.new - (cell.now - cell.then)) <= 1e-12
        assert cell.new >= 0.0
        assert cell.decay <= 1e-6
    assert round(moved.refit_points + moved.movement_points, 1) == round(now.score - then.score, 1)
    assert moved.refit_points == round(
        round(new_curve.score(then.raw), 1) - round(old_curve.score(then.raw), 1), 1
    )
    # What the new events added, decayed to now: the state with them minus the state without.
    without = _card(_fold(None, before, T0), now.updated_at_ms, new_curve)
    assert abs(moved.new_engagement - (now.raw - without.raw)) <= 1e-6 * (1 + len(moved.cells))


@settings(max_examples=200, deadline=None)
@given(before=_events, quiet_hours=st.integers(0, 40 * 24), refit=st.floats(-2.0, 2.0))
def test_a_quiet_user_moves_by_decay_and_refits_only(
    before: list[Drawn], quiet_hours: int, refit: float
) -> None:
    new_curve = _shifted(DEFAULT_CURVE, refit, 7)
    state = _fold(None, before, T0)
    then = snapshot_of(_card(state, T0 + 10 * MS_PER_DAY, DEFAULT_CURVE))
    now = _card(state, then.updated_at_ms + quiet_hours * MS_PER_HOUR, new_curve)

    moved = attribute(then, now, PARAMS, new_curve)

    assert moved.new_engagement == 0.0
    assert all(cell.new == 0.0 for cell in moved.cells)
    assert abs(moved.decay - moved.raw_change) <= 1e-9
    assert moved.decay <= 0.0
    assert moved.driver().startswith("decay while quiet")
    if new_curve.score(then.raw) == DEFAULT_CURVE.score(then.raw):
        assert moved.refit_points == 0.0


def test_a_refit_alone_is_all_refit_points() -> None:
    state = _fold(None, [(0, Kind.SHARE, "twitter", "a1", 60.0)], T0)
    card = _card(state, T0 + MS_PER_DAY, DEFAULT_CURVE)
    new_curve = _shifted(DEFAULT_CURVE, 1.5, 3)
    regraded = dataclasses.replace(card, score=round(new_curve.score(card.raw), 1), curve_version=3)

    moved = attribute(snapshot_of(card), regraded, PARAMS, new_curve)

    assert (moved.raw_change, moved.decay, moved.new_engagement) == (0.0, 0.0, 0.0)
    assert moved.refit_points == round(regraded.score - card.score, 1) != 0.0
    assert moved.movement_points == 0.0
    assert (
        moved.driver() == f"decay while quiet, and a curve refit ({moved.refit_points:+.1f} points)"
    )


def test_worked_example_in_docs() -> None:
    """docs/scoring.md, "Why did my score change?": a like then, a week, three shares since."""
    state = _fold(None, [(0, Kind.LIKE, "twitter", "alice", 50.0)], T0)
    then = snapshot_of(_card(state, T0, DEFAULT_CURVE))
    state = _fold(
        state,
        [(0, Kind.SHARE, "instagram", f"fan{i}", 50.0) for i in range(3)],
        T0 + 3 * MS_PER_DAY,
    )
    now = _card(state, T0 + 7 * MS_PER_DAY, DEFAULT_CURVE)

    moved = attribute(then, now, PARAMS, DEFAULT_CURVE)

    cells = {c.kind: c for c in moved.cells}
    like, share = cells["like"], cells["share"]
    assert (then.raw, then.score) == (1.0, 37.5)
    assert like.decay == round(2**-0.5, 6) - 1.0  # half of a 14-day half-life: x 0.707107
    assert abs(share.new - 9 * 2 ** (-4 / 30)) <= 1e-6  # three shares of 3, four days old
    assert moved.driver() == "driven by +8.2 raw of new shares on instagram"
    assert (now.score, moved.movement_points, moved.refit_points) == (59.8, 22.3, 0.0)


def test_the_snapshot_names_the_largest_networks_and_sums_the_rest() -> None:
    drawn = [(i, Kind.LIKE, network, f"a{i}", 50.0) for i, network in enumerate(NETWORKS)]
    drawn += [(0, Kind.LIKE, "twitter", "b", 90.0)]
    card = _card(_fold(None, drawn, T0), T0 + MS_PER_DAY, DEFAULT_CURVE)

    snap = snapshot_of(card)

    likes = snap.components["like"]
    assert len(likes) == SNAPSHOT_NETWORKS_PER_KIND + 1
    assert "twitter" in likes
    assert abs(sum(likes.values()) - card.raw) <= 1e-12
    assert Snapshot.from_dict(orjson.loads(stored_snapshot(card))) == snap


def test_networks_the_snapshot_did_not_name_are_compared_as_other_networks() -> None:
    drawn = [(i, Kind.LIKE, network, f"a{i}", 50.0) for i, network in enumerate(NETWORKS)]
    state = _fold(None, drawn, T0)
    then = snapshot_of(_card(state, T0 + MS_PER_DAY, DEFAULT_CURVE))
    state = _fold(state, [(0, Kind.LIKE, "linkedin", "z", 50.0)], T0 + 2 * MS_PER_DAY)
    now = _card(state, T0 + 3 * MS_PER_DAY, DEFAULT_CURVE)

    moved = attribute(then, now, PARAMS, DEFAULT_CURVE)

    other = [c for c in moved.cells if c.kind == "like" and c.network == OTHER_NETWORKS]
    assert len(other) == 1
    assert other[0].new > 0.9
    assert abs(moved.decay + moved.new_engagement - moved.raw_change) <= 1e-9


def test_top_actors_gained_and_lost_are_listed_beside_the_sum() -> None:
    base = dataclasses.replace(
        _card(None, T0, DEFAULT_CURVE),
        top_actors=(ActorContribution("old", 2.0), ActorContribution("kept", 1.0)),
    )
    later = dataclasses.replace(
        base,
        updated_at_ms=T0 + 30 * MS_PER_DAY,
        top_actors=(ActorContribution("new", 3.0), ActorContribution("kept", 1.0)),
    )

    moved = attribute(snapshot_of(base), later, PARAMS, DEFAULT_CURVE)

    by_actor = {m.actor_id: m for m in moved.movers}
    assert [m.actor_id for m in moved.movers] == ["new", "old", "kept"]
    assert (by_actor["new"].then, by_actor["new"].change) == (None, 3.0)
    assert (by_actor["old"].now, by_actor["old"].change) == (None, -1.0)  # 2.0, a half-life
    assert by_actor["kept"].change == 0.5


def test_a_card_on_another_curve_is_refused() -> None:
    card = _card(None, T0, DEFAULT_CURVE)
    with pytest.raises(ValueError, match="graded on curve 0, not on 2"):
        attribute(snapshot_of(card), card, PARAMS, _shifted(DEFAULT_CURVE, 1.0, 2))


def test_a_card_older_than_the_snapshot_is_refused() -> None:
    card = _card(None, T0, DEFAULT_CURVE)
    later = snapshot_of(dataclasses.replace(card, updated_at_ms=T0 + 1))
    with pytest.raises(ValueError, match="older than the snapshot"):
        attribute(later, card, PARAMS, DEFAULT_CURVE)


@pytest.mark.parametrize(
    "bad", [{}, {"t": 1}, [], {"t": "x", "s": 1, "r": 1, "v": 0, "c": {}, "a": []}]
)
def test_a_malformed_snapshot_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="not a score snapshot"):
        Snapshot.from_dict(bad)


def test_on_one_curve_version_no_points_are_refit_points() -> None:
    card = _card(_fold(None, [(0, Kind.LIKE, "twitter", "a1", 50.0)], T0), T0, DEFAULT_CURVE)
    shown_otherwise = dataclasses.replace(card, score=card.score + 3.0)  # as a card may say
    later = dataclasses.replace(card, updated_at_ms=T0 + MS_PER_HOUR)
    moved = attribute(snapshot_of(shown_otherwise), later, PARAMS, DEFAULT_CURVE)
    assert moved.refit_points == 0.0
    assert moved.movement_points == -3.0


def test_a_quiet_group_of_summed_networks_is_decay_within_its_components_rounding() -> None:
    """Four networks summed under '*' carry four roundings a side: an hour of silence grows
    the group by more than one named cell's 1e-6 over its decayed value, and it is still decay."""
    exact = (
        0.263168714780087,
        0.10183236872597351,
        0.04256431300025912,
        0.4797255196465876,
        0.2434162079288437,
        0.4672775528849586,
        0.2245974215793945,
        0.18562831875851665,
    )
    factor = decay_factor(MS_PER_HOUR, PARAMS.half_lives[KIND_CODE[Kind.LIKE]])
    base = _card(None, T0, DEFAULT_CURVE)

    def at(ms: int, scale: float) -> ScoreCard:
        like = {f"net{i}": round(value * scale, 6) for i, value in enumerate(exact)}
        return dataclasses.replace(
            base, updated_at_ms=ms, raw=sum(like.values()), components={"like": like}
        )

    then = snapshot_of(at(T0, 1.0))
    now = at(T0 + MS_PER_HOUR, factor)
    group = next(c for c in attribute(then, now, PARAMS, DEFAULT_CURVE).cells if c.network == "*")
    assert then.summed == {"like": 4}
    assert group.now - group.then * factor > 1e-6
    moved = attribute(then, now, PARAMS, DEFAULT_CURVE)
    assert moved.new_engagement == 0.0
    assert abs(moved.decay - moved.raw_change) <= 1e-9
