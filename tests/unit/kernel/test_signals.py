"""The kernel's `Signals`: the table codec it shares with `UserSignals` (records written before
the kernel decode), and reads and score cards that agree with the Python model's."""

from __future__ import annotations

import orjson
import pytest
from clout_kernel import Signals

from app.scoring.curve import DEFAULT_CURVE, Curve
from app.scoring.events import Kind
from app.scoring.params import ModelParams
from app.scoring.signals import UserSignals
from app.step.score_update import score_update
from app.step.stored_user import StoredUser
from tests.support.kernel import FITTED
from tests.support.scoring import DAY, T0, event, fold

PARAMS = ModelParams()


def python_state() -> UserSignals:
    """Two HLL epochs (dense current registers), a burst, and more actors than are shown."""
    events = [
        event(f"a{i}", ts=T0 + i * DAY, kind=kind, network=network)
        for i in range(40)
        for kind, network in [(Kind.LIKE, "twitter"), (Kind.SHARE, "insta")]
    ]
    state = fold(events, PARAMS, actor_score=None)
    return fold([event("late", ts=T0 - 50 * DAY)], PARAMS, actor_score=None, state=state)


def test_a_record_the_python_model_wrote_decodes_to_the_same_state() -> None:
    state = python_state()
    written = orjson.dumps({"p": {"likes": 7 * 512 + 511}, "s": state.to_dict(), "g": 3})
    restored = StoredUser.from_bytes(written)
    assert isinstance(restored.signals, Signals)
    assert orjson.loads(restored.signals.to_json()) == state.to_dict()
    assert restored.to_bytes() == written  # and writes it back byte for byte


def test_a_record_from_before_envelopes_and_fencing_tokens_decodes() -> None:
    signals = python_state().to_dict()
    restored = StoredUser.from_bytes(orjson.dumps({"a": {"likes": 41}, "s": signals}))
    assert restored.already_applied("likes", 41, 499)
    assert restored.generation == 0
    assert restored.signals is not None
    assert orjson.loads(restored.signals.to_json()) == signals


def test_reads_agree_with_the_python_model() -> None:
    state = python_state()
    compiled = Signals.from_dict(state.to_dict())
    for now in (T0 + 39 * DAY, T0 + 100 * DAY, T0 + 400 * DAY):
        assert compiled.kind_totals(now, PARAMS) == state.kind_totals(now, PARAMS)
        assert compiled.raw_at(now, PARAMS) == state.raw_at(now, PARAMS)
        assert compiled.components_at(now, PARAMS) == state.components_at(now, PARAMS)
        assert compiled.top_actors_at(now, PARAMS, 5) == state.top_actors_at(now, PARAMS, 5)
        assert compiled.engagers_at(now, PARAMS) == state.engagers_at(now, PARAMS)
    assert compiled.engagers_at(T0 + 39 * DAY, PARAMS) > 30


@pytest.mark.parametrize("curve", [DEFAULT_CURVE, FITTED], ids=["default", "fitted"])
def test_the_kernels_cards_and_refresh_times_are_the_python_models(curve: Curve) -> None:
    state = python_state()
    compiled = Signals.from_dict(state.to_dict())
    for now in (T0 + 39 * DAY, T0 + 60 * DAY, T0 + 400 * DAY):
        kernel = score_update([(1, "bob", compiled)], now, PARAMS, curve)
        python = score_update([(1, "bob", state)], now, PARAMS, curve)
        assert kernel == python
        assert len(kernel.cards[0].top_actors) == 5


@pytest.mark.parametrize(
    "broken",
    [
        {"t": 1, "s": {}, "e": 0, "h": []},  # no landmark
        {"L": 1, "t": 1, "s": {"xtwitter": 1.0}, "e": 0, "h": []},  # no such kind
        {"L": 1, "t": 1, "s": {}, "e": 0, "h": "short"},
        {"L": 1, "t": 1, "s": {}, "e": 0, "h": [], "a": {"bob": [1.0]}},
    ],
)
def test_a_malformed_value_is_a_value_error(broken: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed UserSignals"):
        Signals.from_dict(broken)
