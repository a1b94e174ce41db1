"""How big each measurement is: the full run (`make bench`) and the CI smoke run (`--quick`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Sizes of one run; every field is recorded in the results."""

    mode: str
    events: int  # N: the backlog read by the bare consumer and by the pipeline
    population_users: int  # the synthetic population the events are drawn from
    consume_passes: int  # the bare consumer reads the backlog this often; the best pass counts
    e2e_rate: float  # events/s produced during the latency measurement
    e2e_seconds: float
    tracer_every: int  # every n-th e2e event is a timed tracer
    # Latency is measured a second time at this fraction of the measured pipeline throughput
    # (None: not), so the latency floor is known when the fixed rate overloads the worker.
    e2e_headroom: float | None
    lookups: int  # per concurrency, for the raw HGETALL and ScoreClient.get()
    http_lookups: int  # per concurrency, for GET /v1/scores/{id}
    lookup_rounds: int  # the three lookup kinds are interleaved in this many rounds
    memory_stages: tuple[int, ...]  # tracked users at which worker memory is read
    memory_topics: int  # topics each memory-phase user was engaged about (its state holds them)
    envelope_events: int  # the envelope backlog (100-event messages) read by a second worker
    e2e_envelope_rate: float  # events/s in envelopes during the envelope latency measurement
    e2e_envelope_seconds: float
    seed: int = 7
    profile: bool = False  # py-spy the worker during the pipeline measurement
    concurrencies: tuple[int, ...] = (1, 50)

    def with_overrides(self, **changes: Any) -> BenchConfig:
        """A copy with the given (non-None) fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)


FULL = BenchConfig(
    mode="full",
    events=200_000,
    population_users=20_000,
    consume_passes=3,
    e2e_rate=5000.0,
    e2e_seconds=60.0,
    tracer_every=20,
    e2e_headroom=0.3,
    lookups=20_000,
    http_lookups=5_000,
    lookup_rounds=4,
    memory_stages=(100_000, 1_000_000),
    memory_topics=16,
    envelope_events=200_000,
    e2e_envelope_rate=30_000.0,
    e2e_envelope_seconds=20.0,
)

QUICK = BenchConfig(
    mode="quick",
    events=20_000,
    population_users=5_000,
    consume_passes=2,
    e2e_rate=1000.0,
    e2e_seconds=8.0,
    tracer_every=10,
    e2e_headroom=None,
    lookups=1_000,
    http_lookups=300,
    lookup_rounds=2,
    memory_stages=(10_000, 20_000),
    memory_topics=16,
    envelope_events=20_000,
    e2e_envelope_rate=3_000.0,
    e2e_envelope_seconds=5.0,
)
