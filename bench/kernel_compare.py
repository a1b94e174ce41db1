"""The per-event path in Python and in the kernel on the same events: CPU µs per event.

    python -m bench.kernel_compare [--events 100000]

The bench's population (20k users, seed 7), as single-event messages and as 100-event envelopes;
CPU time (process_time), median of 5, with the worker's garbage-collector settings. Stages:
decode + validate (`plan.reference_triage` / `plan.triage_in_chunks`), apply (`apply_event` /
`clout_kernel.fold`, each event marked applied, actors unscored), score (`score_update` of each
part's users on UserSignals / Signals) and the table encoding of every user.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import clout_kernel
import orjson

from app.kafka.topics import partition_for
from app.scoring.events import Kind
from app.scoring.model import DEFAULT_CURVE
from app.scoring.params import ModelParams
from app.scoring.signals import UserSignals, apply_event
from app.step import plan
from app.step.score_update import score_update
from app.step.stored_user import StoredUser
from bench.events import population
from streams.worker import GC_THRESHOLDS

PARTITIONS = 8
END_MS = 1_795_310_000_000
PARAMS = ModelParams()
TOPIC = {Kind.LIKE: "likes", Kind.SHARE: "shares", Kind.MENTION: "mentions"}
ROUTING = plan.Routing({topic: kind for kind, topic in TOPIC.items()}, "rekeyed", PARTITIONS)
States = dict[str, UserSignals | clout_kernel.Signals]


@dataclass(frozen=True, slots=True)
class Message:
    """What triage reads of a Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: object = ()


def messages(events: int) -> tuple[list[Message], list[Message]]:
    """The population's events as single-event messages and as 100-event envelopes."""
    single: list[Message] = []
    groups: defaultdict[tuple[str, int], list[dict[str, object]]] = defaultdict(list)
    for kind, event in population(20_000, events, seed=7, end_ms=END_MS):
        home = (TOPIC[kind], partition_for(str(event["target_id"]), PARTITIONS))
        single.append(Message(*home, len(single), orjson.dumps(event)))
        groups[home].append({**event, "kind": kind.value})
    envelopes = [
        Message(topic, partition, offset, orjson.dumps(items[i : i + 100]))
        for (topic, partition), items in groups.items()
        for offset, i in enumerate(range(0, len(items), 100))
    ]
    return single, envelopes


def cpu_us(run: Callable[[], object], per: int) -> float:
    """Median CPU µs of `run` over 5 runs, per one of `per`."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        run()
        runs.append(time.process_time() - started)
    return statistics.median(runs) / per * 1e6


def triage(batch: list[Message], kernel: bool) -> list[plan.Triage]:
    now, rules = END_MS + 1, PARAMS.event_rules
    chunks = plan.triage_in_chunks if kernel else plan.reference_triage
    return list(chunks(batch, now, rules, ROUTING, partition_for, 1000))


def apply(parts: list[plan.Triage], kernel: bool) -> States:
    """Every accepted event folded in, part by part; the users' states."""
    stored: dict[str, StoredUser] = {}
    python: dict[str, UserSignals] = {}
    for part in parts:
        targets = {a.event.target_id for a in part.accepted}
        states = {user: stored.setdefault(user, StoredUser()) for user in targets}
        if kernel:
            standing = dict.fromkeys({a.event.actor_id for a in part.accepted})
            clout_kernel.fold(part.accepted, [True] * len(part.accepted), states, standing, PARAMS)
            continue
        for a in part.accepted:
            target = a.event.target_id
            python[target] = apply_event(python.get(target), a.event, None, PARAMS)
            states[target].mark_applied(a.position.topic, a.position.offset, a.position.index)
    out: States = {}
    out.update(python)
    out.update({user: s.signals for user, s in stored.items() if s.signals is not None})
    return out


def score(parts: list[plan.Triage], states: States) -> None:
    """Each part's users scored once, as the executor does."""
    for part in parts:
        users = {a.event.target_id for a in part.accepted}
        score_update([(0, u, states[u]) for u in users], END_MS + 1, PARAMS, DEFAULT_CURVE)


def encode(states: States) -> None:
    """Each state's table form as bytes, as `StoredUser.to_bytes` writes it."""
    for state in states.values():
        if isinstance(state, clout_kernel.Signals):
            state.to_json()
        else:
            orjson.dumps(state.to_dict())


def figures(single: list[Message], envelopes: list[Message], kernel: bool) -> dict[str, float]:
    """Each stage's CPU µs per event (per user for the encoding), one path."""
    events = len(single)
    parts = triage(single, kernel)
    states = apply(parts, kernel)
    return {
        "decode+validate": cpu_us(lambda: triage(single, kernel), events),
        "in envelopes": cpu_us(lambda: triage(envelopes, kernel), events),
        "apply": cpu_us(lambda: apply(parts, kernel), events),
        "score": cpu_us(lambda: score(parts, states), events),
        "encode (per user)": cpu_us(lambda: encode(states), len(states)),
    }


def main() -> None:
    """Print the figures of the Python path and of the kernel."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    events = parser.parse_args().events
    single, envelopes = messages(events)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    print(f"{events:,} events, {len(envelopes):,} envelopes; CPU µs, median of 5")
    for name, kernel in (("python", False), ("kernel", True)):
        measured = figures(single, envelopes, kernel)
        print(f"{name:8}" + "  ".join(f"{k} {v:.2f}" for k, v in measured.items()))


if __name__ == "__main__":
    main()
