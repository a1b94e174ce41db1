"""The synthetic population: deterministic, ordered, valid, and shaped like real engagement."""

from __future__ import annotations

import statistics
from collections import Counter
from itertools import islice

import pytest

from app.scoring.events import Kind, validate_event
from app.scoring.model import ModelParams
from app.simulation import NETWORKS, generate_events
from app.simulation.population import WireEvent

END = 1_767_225_600_000
DAY = 86_400_000
RULES = ModelParams().event_rules


def _ts(event: WireEvent) -> int:
    ts = event["ts"]
    assert isinstance(ts, int)
    return ts


@pytest.fixture(scope="module")
def sample() -> list[tuple[Kind, WireEvent]]:
    return list(generate_events(2000, 30_000, seed=11, end_ms=END))


def test_same_seed_same_events(sample: list[tuple[Kind, WireEvent]]) -> None:
    assert list(generate_events(2000, 30_000, seed=11, end_ms=END)) == sample


@pytest.mark.parametrize(("seed", "end"), [(12, END), (11, END + 1)])
def test_other_seed_or_end_other_events(
    sample: list[tuple[Kind, WireEvent]], seed: int, end: int
) -> None:
    assert list(islice(generate_events(2000, 30_000, seed=seed, end_ms=end), 100)) != sample[:100]


@pytest.mark.parametrize("count", [0, 1, 7, 1000])
def test_exact_count(count: int) -> None:
    assert sum(1 for _ in generate_events(50, count, seed=1, end_ms=END)) == count


@pytest.mark.parametrize("span_days", [30.0, 1.0, 0.01])
def test_events_are_in_ts_order_within_the_span(span_days: float) -> None:
    stamps = [
        _ts(e) for _, e in generate_events(300, 5000, seed=3, end_ms=END, span_days=span_days)
    ]
    assert stamps == sorted(stamps)
    assert END - span_days * DAY <= stamps[0]
    assert stamps[-1] <= END


def test_every_event_is_valid(sample: list[tuple[Kind, WireEvent]]) -> None:
    for kind, wire in sample:
        event = validate_event(wire, kind, END, RULES)
        assert event.kind is kind


def test_shape_of_the_population(sample: list[tuple[Kind, WireEvent]]) -> None:
    kinds = Counter(kind for kind, _ in sample)
    assert kinds[Kind.LIKE] > kinds[Kind.SHARE] > 0
    assert kinds[Kind.LIKE] > kinds[Kind.MENTION] > 0
    assert {str(e["network"]) for _, e in sample} <= set(NETWORKS)
    assert len({e["network"] for _, e in sample}) >= 6
    # Heavy tail: the busiest 1% of targets receive a large share of all engagement.
    per_target = sorted(Counter(str(e["target_id"]) for _, e in sample).values(), reverse=True)
    assert sum(per_target[: len(per_target) // 100]) > 0.15 * len(sample)
    assert statistics.median(per_target) < len(sample) / len(per_target)
    # Bot farms exist and engage in bursts.
    bot_events = [e for _, e in sample if str(e["actor_id"]).startswith("bot")]
    assert 0 < len(bot_events) < 0.3 * len(sample)
    # Fans come back: some actor engages with the same target several times.
    pairs = Counter((e["actor_id"], e["target_id"]) for _, e in sample)
    assert max(pairs.values()) >= 3
    assert all(e["actor_id"] != e["target_id"] for _, e in sample)


def test_some_events_are_retried_with_the_same_id(
    sample: list[tuple[Kind, WireEvent]],
) -> None:
    ids = Counter(str(e["event_id"]) for _, e in sample)
    repeated = sum(n - 1 for n in ids.values())
    assert 0.002 * len(sample) < repeated < 0.01 * len(sample)
    by_id: dict[str, WireEvent] = {}
    for _, e in sample:
        first = by_id.setdefault(str(e["event_id"]), e)
        assert first == e  # a retry is the same message


@pytest.mark.parametrize(
    ("users", "events", "span"), [(1, 10, 30.0), (10, -1, 30.0), (10, 10, 0.0)]
)
def test_bad_arguments(users: int, events: int, span: float) -> None:
    with pytest.raises(ValueError, match=r"need|must"):
        generate_events(users, events, seed=1, end_ms=END, span_days=span)
