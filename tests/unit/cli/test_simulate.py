"""`clout simulate`: its arguments' bounds (producing to Kafka is tested end to end in
tests/e2e/test_population_scores.py)."""

from __future__ import annotations

import pytest

from app.cli import build_parser, main
from app.simulation.population import REFERENCE_AUDIENCE_SIGMA


def test_the_defaults_are_the_reference_population() -> None:
    args = build_parser().parse_args(["simulate"])
    assert (args.users, args.events, args.seed) == (20000, 200000, 7)
    assert args.rate is None
    assert args.audience_sigma == REFERENCE_AUDIENCE_SIGMA


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--users", "0"], "must be at least 1"),
        (["--events", "-3"], "must be at least 1"),
        (["--audience-sigma", "0"], "must be above 0"),
    ],
)
def test_nonsense_is_refused_before_anything_is_produced(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *argv])
    assert exited.value.code == 2
    assert says in capsys.readouterr().err
