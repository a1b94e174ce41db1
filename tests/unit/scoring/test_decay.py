"""Half-life decay: exact halving and composition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.decay import MS_PER_DAY, decay_factor


@pytest.mark.parametrize("half_life", [1, 60_000, 14 * MS_PER_DAY, 30 * MS_PER_DAY, 0.5])
def test_halves_exactly_at_the_half_life(half_life: float) -> None:
    assert decay_factor(half_life, half_life) == 0.5
    assert decay_factor(2 * half_life, half_life) == 0.25
    assert decay_factor(0, half_life) == 1.0


def test_negative_age_moves_value_back_in_time() -> None:
    assert decay_factor(-MS_PER_DAY, MS_PER_DAY) == 2.0


@pytest.mark.parametrize("half_life", [0, -1])
def test_half_life_must_be_positive(half_life: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        decay_factor(10, half_life)


@given(
    a=st.floats(0, 1e10),
    b=st.floats(0, 1e10),
    half_life=st.floats(1, 1e10),
)
def test_decay_composes(a: float, b: float, half_life: float) -> None:
    assert decay_factor(a, half_life) * decay_factor(b, half_life) == pytest.approx(
        decay_factor(a + b, half_life), rel=1e-9, abs=1e-300
    )
