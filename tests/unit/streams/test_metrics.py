"""The worker's stage timer adds the time spent in a block to its stage's counter."""

from __future__ import annotations

import time

import pytest

from streams import metrics


def seconds_of(stage: str) -> float:
    return metrics.STAGE_SECONDS.labels(stage=stage)._value.get()  # noqa: SLF001  # the counter's value


def test_a_stage_counts_the_time_inside_its_block_even_on_an_error() -> None:
    before = seconds_of("fold")
    with metrics.stage("fold"):
        time.sleep(0.01)
    after_one = seconds_of("fold")
    assert after_one - before >= 0.01
    with pytest.raises(KeyError), metrics.stage("fold"):
        raise KeyError("x")
    assert seconds_of("fold") > after_one


def test_every_stage_has_a_name_the_bench_knows() -> None:
    assert len(set(metrics.STAGES)) == len(metrics.STAGES)
    assert {"decode_validate", "fold", "scoring", "redis", "score_write"} <= set(metrics.STAGES)
