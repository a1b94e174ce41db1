"""The worker's Prometheus metrics (served on `Settings.worker_metrics_port`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter(
    "clout_events_consumed_total",
    "Events read from the input topics (each item of an envelope counts)",
    ["topic"],
)
EVENTS_COUNTED = Counter(
    "clout_events_counted_total", "Valid, first-seen events folded into signals", ["kind"]
)
DEAD_LETTERS = Counter(
    "clout_dead_letters_total", "Messages refused and sent to the dead-letter topic", ["reason"]
)
DUPLICATES = Counter("clout_duplicate_events_total", "Events dropped as repeated event ids")
REPLAYS_SKIPPED = Counter(
    "clout_replayed_events_skipped_total", "Redelivered messages already folded into the table"
)
HOLES_FOUND = Counter(
    "clout_partition_holes_total",
    "Offsets Faust did not deliver, which the in-order gate seeks back to",
    # "skipped": later messages came first; "stalled": nothing came after it (the stall rule)
    ["cause"],
)
FAUST_RECORDS_DISCARDED = Counter(
    "clout_faust_records_discarded_total",
    "Fetched input records Faust's fetch loop did not hand to a stream (streams/faust_compat.py)",
    # "stale_batch": fetched before a seek of their partition, fetched again after it;
    # "read_offset": dropped by Faust below its read offset (lost unless sought again);
    # "inactive_partition": skipped, their partition paused (sought again before it resumes)
    ["reason"],
)
REKEYED = Counter("clout_rekeyed_events_total", "Events re-routed to their target user's partition")
SCORES_WRITTEN = Counter("clout_scores_written_total", "Score cards sent to Redis")
SWEEP_RESCORED = Counter("clout_sweep_rescored_total", "Idle users re-scored by the decay sweep")
REDIS_RETRIES = Counter(
    "clout_redis_retries_total", "Redis calls retried after a connection failure", ["operation"]
)
BATCH_SECONDS = Histogram(
    "clout_batch_seconds",
    "Time to process one batch of events",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STAGE_SECONDS = Counter(
    "clout_stage_seconds_total",
    "Wall time the worker spent in each stage of its per-event path (the benchmark divides it by "
    "the events consumed)",
    ["stage"],
)
STAGES = (
    "decode_validate",
    "fold",
    "scoring",
    "redis",
    "score_write",
    "state_encoding",
    "changelog",
)
"""decode_validate: triage (the kernel); fold: state reads, replay checks, standings, the fold;
scoring: cards and refresh times; redis: the dedupe, actor-standing and sweep-schedule round
trips; score_write: the cards' encoding, their Redis writes and the score feed's records;
state_encoding: the table values a flush writes; changelog: the table writes and the wait for the
broker's acknowledgement of their records."""


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the time inside the block toward stage `name` (one of `STAGES`)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(stage=name).inc(time.perf_counter() - started)
