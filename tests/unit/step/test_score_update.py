"""score_update: the cards and sweep schedule shared by a batch and the decay sweep."""

from __future__ import annotations

from app.scoring.model import DEFAULT_CURVE, next_refresh_ms, score_card
from app.scoring.params import ModelParams
from app.step.score_update import score_update
from tests.support.scoring import DAY, T0, event, fold


def test_users_with_signals_get_a_card_and_their_next_visible_change() -> None:
    params = ModelParams()
    bob = fold([event(target="bob"), event("carol", target="bob")], params)
    dave = fold([event(target="dave")], params)
    now = T0 + DAY

    update = score_update([(3, "bob", bob), (5, "dave", dave)], now, params, DEFAULT_CURVE)

    assert update.cards == [
        score_card("bob", bob, now, params, DEFAULT_CURVE),
        score_card("dave", dave, now, params, DEFAULT_CURVE),
    ]
    assert update.schedule == [
        (3, "bob", next_refresh_ms(bob, now, params, DEFAULT_CURVE)),
        (5, "dave", next_refresh_ms(dave, now, params, DEFAULT_CURVE)),
    ]
    assert all(due is not None and due > now for _, _, due in update.schedule)


def test_a_user_without_signals_gets_no_card_and_leaves_the_schedule() -> None:
    update = score_update([(2, "ghost", None)], T0, ModelParams(), DEFAULT_CURVE)

    assert update.cards == []
    assert update.schedule == [(2, "ghost", None)]
