"""`clout simulate`: produce a synthetic population's engagement to Kafka.

Without `--rate` it back-fills the population's history (events timestamped over the last
`--span-days`, as fast as the broker takes them): used by the tests and the benchmark. With
`--rate` it is live demo traffic: the same event sequence, each stamped with the time it is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from typing import Any

from app.core.settings import get_settings
from app.kafka.publisher import EventPublisher
from app.kafka.topics import ensure_topics
from app.scoring.events import Kind
from app.simulation.population import REFERENCE_AUDIENCE_SIGMA, generate_events

CHUNK = 5000


def register(subparsers: Any) -> None:
    """Add the `simulate` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help="produce a deterministic synthetic population's events to Kafka"
    )
    parser.add_argument("--users", type=_positive, default=20000, help="population size")
    parser.add_argument("--events", type=_positive, default=200000, help="events to produce")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same events)")
    parser.add_argument(
        "--rate", type=float, default=None, help="events per second (live demo traffic)"
    )
    parser.add_argument(
        "--span-days", type=float, default=30.0, help="history span when back-filling"
    )
    parser.add_argument(
        "--audience-sigma",
        type=_positive_float,
        default=REFERENCE_AUDIENCE_SIGMA,
        help="tail weight: log-normal sigma of audience sizes (default: the reference 1.7)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Produce the events; exit code 1 if any was rejected."""
    accepted, rejected = asyncio.run(
        simulate(args.users, args.events, args.seed, args.rate, args.span_days, args.audience_sigma)
    )
    print(f"simulate: accepted={accepted} rejected={rejected}")
    return 1 if rejected else 0


async def simulate(
    users: int,
    events: int,
    seed: int,
    rate: float | None,
    span_days: float,
    audience_sigma: float = REFERENCE_AUDIENCE_SIGMA,
) -> tuple[int, int]:
    """Publish the population's events; returns (accepted, rejected) counts."""
    settings = get_settings()
    await ensure_topics(settings)
    end_ms = int(time.time() * 1000)
    stream = generate_events(
        users, events, seed, end_ms, span_days=span_days, audience_sigma=audience_sigma
    )
    accepted = rejected = 0
    async with EventPublisher(settings) as publisher:
        if rate is None:
            for chunk in _chunks(stream, CHUNK):
                results = await publisher.publish_many(chunk)
                ok = sum(r.accepted for r in results)
                accepted, rejected = accepted + ok, rejected + len(results) - ok
            return accepted, rejected
        started = time.monotonic()
        for sent, (kind, event) in enumerate(stream):
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            live = {**event, "ts": int(time.time() * 1000)}
            result = await publisher.publish(kind, live)
            accepted, rejected = accepted + result.accepted, rejected + (not result.accepted)
    return accepted, rejected


def _chunks(stream: Iterator[tuple[Kind, Any]], size: int) -> Iterator[list[tuple[Kind, Any]]]:
    chunk: list[tuple[Kind, Any]] = []
    for item in stream:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
