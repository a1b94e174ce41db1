"""Burrow's evaluation rules, one table per rule, then the whole evaluation.

Windows are written as (position, end) pairs, one per poll, 10 s apart; `w()` turns them into
samples. Lag at each sample is end - position.
"""

from __future__ import annotations

import pytest

from app.ops.status import (
    Status,
    WindowSample,
    evaluate_group,
    evaluate_partition,
    lag_not_decreasing,
    lag_within_allowance,
    position_not_moving,
    rewind_index,
    rewind_recovered,
    select_window,
)


def w(*pairs: tuple[int, int], step_ms: int = 10_000) -> list[WindowSample]:
    """A window from (position, end) pairs, one sample every `step_ms`."""
    return [WindowSample(i * step_ms, position, end) for i, (position, end) in enumerate(pairs)]


def test_sample_lag_is_never_negative() -> None:
    assert WindowSample(0, 120, 100).lag == 0
    assert WindowSample(0, 80, 100).lag == 20


@pytest.mark.parametrize(
    ("window", "allowed", "expected"),
    [
        pytest.param(w((10, 10), (10, 20), (15, 30)), 0, True, id="zero-lag-at-start"),
        pytest.param(w((10, 20), (10, 30), (30, 30)), 0, True, id="zero-lag-at-end"),
        pytest.param(w((10, 20), (12, 30), (15, 30)), 0, False, id="always-behind"),
        pytest.param(w((10, 12), (12, 15), (15, 18)), 3, True, id="within-allowed-lag"),
        pytest.param(w((10, 15), (12, 17), (15, 20)), 3, False, id="above-allowed-lag"),
    ],
)
def test_rule_lag_within_allowance(
    window: list[WindowSample], allowed: int, expected: bool
) -> None:
    assert lag_within_allowance(window, allowed) is expected


@pytest.mark.parametrize(
    ("window", "index", "recovered"),
    [
        pytest.param(w((10, 50), (20, 50), (30, 50)), None, None, id="moving-forward"),
        pytest.param(w((10, 50), (10, 50), (10, 50)), None, None, id="standing-still"),
        pytest.param(w((10, 50), (30, 50), (5, 50), (8, 50)), 2, False, id="rewound"),
        pytest.param(w((10, 50), (30, 50), (5, 50), (30, 50)), 2, True, id="back-where-it-was"),
        pytest.param(w((40, 50), (0, 50), (45, 60)), 1, True, id="passed-where-it-was"),
    ],
)
def test_rule_rewind(window: list[WindowSample], index: int | None, recovered: bool | None) -> None:
    assert rewind_index(window) == index
    if index is not None:
        assert rewind_recovered(window, index) is recovered


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param(w((10, 20), (10, 30), (10, 40)), True, id="same-position"),
        pytest.param(w((10, 20), (11, 30), (11, 40)), False, id="moved-once"),
        pytest.param(w((10, 20)), True, id="single-sample"),
    ],
)
def test_rule_position_not_moving(window: list[WindowSample], expected: bool) -> None:
    assert position_not_moving(window) is expected


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        pytest.param(w((10, 20), (20, 35), (30, 50)), True, id="growing"),
        pytest.param(w((10, 20), (20, 30), (30, 40)), True, id="flat-counts-as-not-decreasing"),
        pytest.param(w((10, 20), (20, 35), (40, 50)), False, id="decreased-once"),
        pytest.param(w((10, 40), (20, 40), (30, 40)), False, id="shrinking"),
    ],
)
def test_rule_lag_not_decreasing(window: list[WindowSample], expected: bool) -> None:
    assert lag_not_decreasing(window) is expected


@pytest.mark.parametrize(
    ("window", "complete", "owned", "allowed", "expected"),
    [
        # rule 0: a caught-up consumer is OK however long it has been idle
        pytest.param(w((50, 50), (50, 50), (50, 50)), True, False, 0, Status.OK, id="idle"),
        pytest.param(w((40, 50), (40, 50), (40, 50)), True, False, 10, Status.OK, id="allowed"),
        # rule 0: not judged before the window covers its full length
        pytest.param(w((10, 50), (10, 60)), False, True, 0, Status.OK, id="warming-up"),
        # rule 1: rewound and still below where it was
        pytest.param(w((30, 50), (5, 50), (8, 50)), True, True, 0, Status.REWIND, id="rewind"),
        # rule 1 applies even if lag was zero earlier in the window (Burrow >= 1.4)
        pytest.param(
            w((50, 50), (5, 50), (9, 50)), True, True, 0, Status.REWIND, id="rewind-after-zero"
        ),
        # rule 1: recovered rewinds fall through to the other rules
        pytest.param(
            w((30, 40), (5, 40), (35, 40)), True, True, 0, Status.OK, id="recovered-rewind"
        ),
        # rule 2: a message arriving on a quiet topic: lag was zero inside the window
        pytest.param(w((50, 50), (50, 50), (50, 51)), True, True, 0, Status.OK, id="new-message"),
        pytest.param(w((50, 50), (50, 51), (50, 51)), True, False, 0, Status.OK, id="quiet-topic"),
        # rule 3: not moving for the whole window, with lag throughout
        pytest.param(w((10, 50), (10, 50), (10, 60)), True, True, 0, Status.STALL, id="stall"),
        pytest.param(w((10, 50), (10, 50), (10, 60)), True, False, 0, Status.STOP, id="stop"),
        # rule 4: moving, but lag never shrinks
        pytest.param(w((10, 50), (20, 70), (30, 90)), True, True, 0, Status.WARN, id="warn"),
        # moving and lag shrinking somewhere: OK (catching up)
        pytest.param(w((10, 50), (30, 60), (50, 65)), True, True, 0, Status.OK, id="catching-up"),
        pytest.param([], True, True, 0, Status.OK, id="empty-window"),
    ],
)
def test_evaluate_partition(
    window: list[WindowSample], complete: bool, owned: bool, allowed: int, expected: Status
) -> None:
    assert (
        evaluate_partition(window, complete=complete, owned=owned, allowed_lag=allowed) is expected
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([], Status.OK, id="no-partitions"),
        pytest.param([Status.OK, Status.OK], Status.OK, id="all-ok"),
        pytest.param([Status.OK, Status.WARN], Status.WARN, id="warn"),
        pytest.param([Status.WARN, Status.ERR], Status.ERR, id="err"),
        pytest.param([Status.OK, Status.STOP], Status.ERR, id="stop-is-err"),
        pytest.param([Status.OK, Status.STALL], Status.ERR, id="stall-is-err"),
        pytest.param([Status.REWIND, Status.WARN], Status.ERR, id="rewind-is-err"),
    ],
)
def test_evaluate_group(statuses: list[Status], expected: Status) -> None:
    assert evaluate_group(statuses) is expected


def test_status_codes_follow_burrow() -> None:
    assert [status.code for status in Status] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("times", "window_s", "first", "complete"),
    [
        pytest.param([], 10.0, None, False, id="no-samples"),
        pytest.param([0, 5_000], 10.0, 0, False, id="too-short"),
        pytest.param([0, 5_000, 10_000], 10.0, 0, True, id="exactly-the-window"),
        # starts at the newest sample at or before newest - window (the anchor)
        pytest.param([0, 4_000, 8_000, 12_000, 16_000], 10.0, 4_000, True, id="anchored"),
    ],
)
def test_select_window(
    times: list[int], window_s: float, first: int | None, complete: bool
) -> None:
    samples = [WindowSample(ts, 0, 0) for ts in times]
    window, is_complete = select_window(samples, window_s)
    assert is_complete is complete
    if first is not None:
        assert window[0].ts_ms == first
        assert window[-1].ts_ms == times[-1]
