"""Burrow's consumer-lag evaluation rules, as pure functions over a window of offset samples.

Burrow (linkedin/Burrow, `core/internal/evaluator/caching.go` and the wiki page "Consumer Lag
Evaluation Rules") judges a consumer by how its offsets and lag move over a sliding window
instead of by a lag threshold. We observe the group from the outside by polling, so a window here
is the samples (time, consumer position, end offset) taken over the last `window_s` seconds rather
than the group's last N commits. The rules, per partition, in Burrow's order:

0. Current lag at or below `allowed_lag`: OK. A caught-up consumer is never in trouble, however
   long ago it last committed (that is how a quiet topic stays quiet).
   A window that does not yet cover `window_s` is not judged either (OK, "warming up").
1. REWIND: the position went backwards between two samples and has not since come back to where
   it was (Burrow >= 1.4 checks this even when lag was zero somewhere in the window).
2. If lag was at or below `allowed_lag` at any sample in the window, OK. This is also the idle
   allowance: a message arriving on a quiet topic gives the consumer a whole window to read it
   before anything below can fire (Burrow's "recent broker offsets" guard against false STOPs).
3. The position did not move over the whole window: STALL when a live member of the group owns
   the partition (the worker is there but stuck), STOP when nobody does (the worker is gone).
   Burrow tells these apart by commit timestamps, which an outside observer cannot see; group
   membership carries the same meaning.
4. WARN: the position moves but the lag never decreased between two samples (falling behind).

ERR is never the outcome of these rules: a partition whose offsets could not be read is ERR, and
the group status is the worst partition status with STOP, STALL and REWIND reported as ERR,
exactly as Burrow does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Partition and group statuses, in Burrow's order of severity."""

    OK = "OK"
    WARN = "WARN"
    ERR = "ERR"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"

    @property
    def code(self) -> int:
        """Burrow's numeric status (1 = OK .. 6 = REWIND), used by the status gauges."""
        return _CODES[self]


_CODES = {
    Status.OK: 1,
    Status.WARN: 2,
    Status.ERR: 3,
    Status.STOP: 4,
    Status.STALL: 5,
    Status.REWIND: 6,
}


@dataclass(frozen=True, slots=True)
class WindowSample:
    """One poll of one partition: the consumer's position and the end offset at `ts_ms`."""

    ts_ms: int
    position: int
    end: int

    @property
    def lag(self) -> int:
        """Messages behind at this sample (never negative)."""
        return max(0, self.end - self.position)


def select_window(
    samples: Sequence[WindowSample], window_s: float
) -> tuple[list[WindowSample], bool]:
    """The samples covering the last `window_s` seconds before the newest, and whether complete.

    The window starts at the newest sample taken at or before ``newest - window_s`` so that it
    spans at least `window_s`; without such a sample we have not watched long enough to judge.
    """
    if not samples:
        return [], False
    cutoff = samples[-1].ts_ms - window_s * 1000.0
    for index in range(len(samples) - 1, -1, -1):
        if samples[index].ts_ms <= cutoff:
            return list(itertools.islice(samples, index, None)), True
    return list(samples), False


def lag_within_allowance(window: Sequence[WindowSample], allowed_lag: int) -> bool:
    """Rule 2: was the consumer caught up (lag <= allowed) at any sample in the window?"""
    return any(sample.lag <= allowed_lag for sample in window)


def rewind_index(window: Sequence[WindowSample]) -> int | None:
    """Rule 1: index of the first sample whose position is below the previous one, if any."""
    for index in range(1, len(window)):
        if window[index].position < window[index - 1].position:
            return index
    return None


def rewind_recovered(window: Sequence[WindowSample], index: int) -> bool:
    """Rule 1, second part: did the position get back to where it was before the rewind?"""
    before = window[index - 1].position
    return any(sample.position >= before for sample in window[index:])


def position_not_moving(window: Sequence[WindowSample]) -> bool:
    """Rule 3: the position is the same at every sample of the window."""
    return all(sample.position == window[0].position for sample in window)


def lag_not_decreasing(window: Sequence[WindowSample]) -> bool:
    """Rule 4: the lag never went down from one sample to the next."""
    return all(window[i].lag >= window[i - 1].lag for i in range(1, len(window)))


def evaluate_partition(
    window: Sequence[WindowSample], *, complete: bool, owned: bool, allowed_lag: int = 0
) -> Status:
    """The status of one partition from its window (see the module docstring for the rules)."""
    if not window or window[-1].lag <= allowed_lag or not complete:
        return Status.OK
    rewound = rewind_index(window)
    if rewound is not None and not rewind_recovered(window, rewound):
        return Status.REWIND
    if lag_within_allowance(window, allowed_lag):
        return Status.OK
    if position_not_moving(window):
        return Status.STALL if owned else Status.STOP
    if lag_not_decreasing(window):
        return Status.WARN
    return Status.OK


def evaluate_group(statuses: Iterable[Status]) -> Status:
    """The group's status: its worst partition, with STOP, STALL and REWIND shown as ERR."""
    worst = max(statuses, key=lambda status: status.code, default=Status.OK)
    return Status.ERR if worst.code > Status.ERR.code else worst


STEADY = "steady, lag = commit interval"
NOT_CATCHING_UP = "not catching up"


def catch_up_outlook(
    lag: int | None, eta_s: float | None, status: Status, warming_up: bool
) -> str | None:
    """The words of the catch-up figure when no ETA applies; None when `eta_s` should be shown.

    A worker keeping up commits every few seconds (2.8 s by default), so its lag hovers at what
    arrives between two commits with consumption equal to production (no ETA): the rules judge
    that OK, because the lag goes down at each commit, and the operator has nothing to do
    ("steady"). "Not catching up" is kept for lag the rules see growing (WARN) or not consumed
    at all (STALL, STOP).
    """
    if lag is None:
        return "-"
    if lag == 0:
        return "caught up"
    if eta_s is not None:
        return None
    if warming_up:
        return "measuring"
    return STEADY if status is Status.OK else NOT_CATCHING_UP
