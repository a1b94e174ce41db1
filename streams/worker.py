"""The Faust application, built from Settings, and `clout worker`'s entry point.

Processing guarantee: at-least-once delivery made idempotent. Faust commits offsets only after
the changelog is flushed; the signal table records the offsets each user has absorbed, so a
redelivered message is not counted twice; repeated event ids are dropped by the deduplicator;
Redis writes are monotonic. See README "Guarantees".
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from pathlib import Path
from typing import Any, cast

import faust
from faust.sensors.monitor import Monitor
from faust.types import TP, EventT, Message, StreamT
from prometheus_client import start_http_server

from app.core.settings import Settings, get_settings
from app.kafka.config import aiokafka_kwargs, kafka_security
from app.kafka.topics import ensure_topics, topic_configs
from app.security.redaction import credential_values, install_log_redaction
from app.store.connection import STORE_ERRORS, redis_from_settings
from app.store.curve import CurveStore, RefitPolicy, TopicRefitPolicy
from app.store.dedupe import EventDeduplicator
from app.store.due import DueIndex
from app.store.writer import FeedMarks, ScoreWriter
from streams.commit import Checkpoint
from streams.curve_follower import CurveFollower, TopicUpkeep
from streams.executor import BatchScorer
from streams.faust_compat import (
    FaustTableAccess,
    FencedTable,
    FetchPolicy,
    aiokafka_producer,
    fenced_store_url,
    require_pinned_libraries,
    use_checkpoint,
    worker_transport,
)
from streams.feed import FeedProducer
from streams.ordering import RESEEK_AFTER_S, STALLED_AFTER_S, CommittedReader, InOrderGate
from streams.record_batches import record_batches
from streams.state import StateCache
from streams.sweep import DecaySweep
from streams.topics import declare_topics

log = logging.getLogger(__name__)
# A timer tick (decay sweep, curve follow, curve refit) that meets these is skipped: the next
# tick catches up, and an exception escaping a Faust timer would crash the whole worker.
TIMER_SKIPPED_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)

PRODUCER_LINGER_S = 0.01
"""How long the worker's producer gathers record batches (changelog, score feed) and dead letters
into one request: with Faust's default (0) each goes in its own request (CHANGELOG.md has the
measurement). Durability is unchanged: the flush awaits the changelog's delivery, and Faust
flushes the producer before every offset commit.
"""
COMMIT_EVERY_MESSAGES = 200_000
"""Faust's other commit trigger (default 10,000 messages), raised so that the interval
(`Settings.worker_commit_interval_s`) decides at the rates one worker reaches, and a longer
interval can be tried; it still bounds what a crash replays when a backlog is read much faster."""


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust credentials for SASL and/or TLS brokers, from the aiokafka clients' own reading."""
    security = kafka_security(settings)
    if security.sasl_mechanism is not None:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context,
        )
    if security.ssl_context is not None:
        return faust.SSLCredentials(security.ssl_context)
    return None


def declare_signal_table(app: faust.App, settings: Settings) -> FencedTable:
    """The changelog-backed table of StoredUser bytes, co-partitioned with the input topics.

    Its store (the app's, see `faust_app`) restores the newest generation's record per user,
    not the last one (fencing a paused worker, docs/guarantees.md).
    """
    table = app.Table(
        "signals",
        default=None,
        key_type=bytes,  # bytes types mean raw serializers: no codec work on the hot path
        value_type=bytes,
        partitions=settings.topic_partitions,
        extra_topic_configs=topic_configs(settings),
        options=table_options(settings),
    )
    if not isinstance(table, FencedTable):
        raise RuntimeError("the app's Table setting must be FencedTable (see faust_app)")
    return table


TABLE_WRITE_BUFFERS = 2
"""Memtables per table partition: one taking writes while the other is flushed to disk."""


def table_options(settings: Settings) -> dict[str, int]:
    """The table store's options (fields of Faust's `RocksDBOptions`): each partition's memory
    bounded by settings rather than Faust's defaults, which grow with the users stored."""
    return {
        "write_buffer_size": settings.table_write_buffer_bytes,
        "max_write_buffer_number": TABLE_WRITE_BUFFERS,
        "block_cache_size": settings.table_block_cache_bytes,
    }


class QuietMonitor(Monitor):
    """Faust's monitor without its per-message statistics, which nothing in Clout reads.

    Faust calls four monitor hooks for every message (counters, timestamps, string keys per
    stream); Clout's own metrics are in streams/metrics.py. Commit, rebalance and table hooks
    are kept. Set through the public `Monitor` setting (`CLOUT_WORKER_FAUST_STATISTICS=true`
    keeps Faust's own).
    """

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        """Not recorded."""

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        """Not recorded."""
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        """Not recorded."""

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        """Not recorded."""


def feed_marks(settings: Settings) -> FeedMarks | None:
    """The score feed as the writer keeps it, under an id unique to this worker process."""
    if not settings.feed_enabled:
        return None
    return FeedMarks(uuid.uuid4().hex, settings.feed_thresholds, settings.feed_hysteresis)


def faust_app(settings: Settings, app_id: str | None = None) -> faust.App:
    """The Faust application with every Faust setting the worker runs with, and nothing else.

    The benchmark's counting agent (`bench/floor.py`) is built from this same function, so the
    Faust floor it measures is the one the worker runs on.
    """
    app = faust.App(
        app_id or settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        store=fenced_store_url(settings.table_store),
        datadir=settings.data_dir,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="at_least_once",
        table_standby_replicas=0,
        broker_session_timeout=settings.worker_session_timeout_s,
        producer_acks=-1,
        producer_linger=PRODUCER_LINGER_S,
        broker_commit_interval=settings.worker_commit_interval_s,
        broker_commit_every=COMMIT_EVERY_MESSAGES,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        cython_optimizations=settings.worker_cython_optimizations,
        Monitor=Monitor if settings.worker_faust_statistics else QuietMonitor,
        Table=FencedTable,
    )
    require_pinned_libraries()
    # Read committed (transactional input); set before a declaration creates Faust's own.
    app.transport = worker_transport(
        app,
        inline_delivery=settings.worker_inline_delivery,
        fetch=FetchPolicy(settings.worker_fetch_min_bytes, settings.worker_fetch_max_wait_ms),
    )
    return app


def use_event_loop(settings: Settings) -> None:
    """Install the configured event loop policy (uvloop by default) before Faust makes its loop."""
    if settings.worker_event_loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


GC_THRESHOLDS = (50_000, 20, 100)
"""Generation 0 is collected every 50,000 net allocations (Python's default: 700), generation 1
every 20th of those and generation 2 every 100th of those, or later (Python also waits until a
quarter of the long-lived objects are new)."""


def tune_garbage_collector(settings: Settings) -> None:
    """Freeze the heap built so far and space collections out (`GC_THRESHOLDS`), if configured.

    The worker holds many small long-lived objects (Faust, aiokafka and the other libraries it
    imports, then every cached user's state), and Python's default schedule re-scans them over
    and over. Frozen objects are never scanned again, and these thresholds space the rest out
    (CHANGELOG.md has the measurements). Call it last at start, so what is frozen is the
    start-up heap.
    """
    if settings.worker_gc_tuned:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


def build_app(settings: Settings) -> faust.App:
    """Declare the topics, the signal table, the scoring agent and the decay sweep."""
    app = faust_app(settings)
    topics = declare_topics(app, settings)
    table = declare_signal_table(app, settings)
    send_records = record_batches(lambda: aiokafka_producer(app))
    states = StateCache(FaustTableAccess(table, send_records), settings.state_cache_users)
    redis = redis_from_settings(settings)
    prefix = settings.redis_key_prefix
    writer = ScoreWriter(
        redis,
        prefix,
        leaderboard_shards=settings.leaderboard_shards,
        feed=feed_marks(settings),
        topic_leaderboard_size=settings.topics.leaderboard_size,
    )
    feed = FeedProducer(
        send=send_records,
        writer=writer,
        scores_topic=settings.topic_scores,
        thresholds_topic=settings.topic_score_thresholds,
        thresholds=settings.feed_thresholds,
        partitions=settings.topic_partitions,
        params=settings.model_params(),
    )
    due = DueIndex(redis, prefix)
    params = settings.model_params()
    offset_s = settings.worker_clock_offset_s

    def clock() -> float:
        """The scoring clock: wall time, shifted by `CLOUT_WORKER_CLOCK_OFFSET_S`."""
        return time.time() + offset_s

    committed_reader = CommittedReader(aiokafka_kwargs(settings))
    gate = InOrderGate(
        lambda: app.consumer,
        lambda: app.consumer_generation_id,
        committed_reader,
        input_topics=topics.inputs.topics,
    )
    scorer = BatchScorer(
        topics=topics,
        states=states,
        writer=writer,
        feed=feed,
        dedupe=EventDeduplicator(redis, prefix, settings.scoring.dedupe_window_hours * 3600),
        due=due,
        params=params,
        curve=lambda: follower.current(),
        topic_curves=lambda: follower.topic_curves(),
        rules=params.event_rules,
        partitions=settings.topic_partitions,
        max_backoff_s=settings.redis_retry_max_backoff_s,
        part_events=min(settings.batch_max_events, settings.state_cache_users),
        gate=gate,
        clock=clock,
    )
    use_checkpoint(app, Checkpoint(scorer.settle, states.flush, [table]))
    sweep = DecaySweep(
        states=states,
        feed=feed,
        due=due,
        params=params,
        curve=lambda: follower.current(),
        topic_curves=lambda: follower.topic_curves(),
        batch_users=settings.sweep_batch_users,
        clock=clock,
    )
    follower = CurveFollower(CurveStore(redis, prefix, settings.leaderboard_shards), sweep.run_all)
    topic_upkeep = TopicUpkeep(
        TopicRefitPolicy.of(settings),
        writer.topic_boards,
        int(settings.topics.retention_days * 86_400_000),
    )

    def owned_partitions() -> list[int]:
        return sorted(
            tp.partition for tp in app.consumer.assignment() if tp.topic == settings.topic_likes
        )

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode types a sync receiver
    async def take_ownership(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        (assigned,) = args  # Faust sends the assigned set of TP positionally
        # The generation the coordinator gave this assignment: every value and card written
        # for these partitions carries it, so a worker that lost them while paused (an older
        # generation) cannot replace what the new owner wrote.
        partitions = {tp.partition for tp in assigned if tp.topic == settings.topic_likes}
        states.assign(partitions, app.consumer_generation_id)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types a sync receiver
    async def let_go(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        (revoked,) = args  # Faust sends the revoked set of TP positionally
        # Faust has waited for the agent and committed (the commit flushes the state) before
        # this signal. If this worker was paused past its session, that commit failed and what
        # is left is a zombie's: drop it unwritten, with the changelog offsets no commit
        # confirmed (docs/guarantees.md, "Fencing a paused worker").
        dropped = states.release(
            {tp.partition for tp in revoked if tp.topic == settings.topic_likes}
        )
        table.forget_unconfirmed()
        if dropped:
            log.warning("partitions revoked: %d changed users dropped unwritten", dropped)

    @app.agent(topics.inputs, name="score-events")
    async def score_events(stream: faust.StreamT[bytes]) -> None:
        await follower.start()
        # take_events is on the Stream implementation, not the StreamT interface.
        async for batch in cast("faust.Stream[bytes]", stream).take_events(
            settings.batch_max_events, within=settings.batch_max_wait_s
        ):
            await scorer.process(batch)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode: typed for sync receivers
    async def close_committed_reader(sender: faust.App, *args: Any, **kwargs: Any) -> None:
        await committed_reader.stop()

    @app.timer(interval=RESEEK_AFTER_S, name="reseek-holes")  # type: ignore[untyped-decorator]
    async def reseek_holes() -> None:
        if app.rebalancing or app.in_recovery:
            return
        if scorer.busy_for() < STALLED_AFTER_S:
            await gate.find_stalled()
        else:  # the agent is held up (Redis retries); its partitions are not stalled
            gate.restart_stall_clocks()
        await gate.seek_holes()

    @app.timer(interval=settings.sweep_interval_s, name="decay-sweep")  # type: ignore[untyped-decorator]
    async def decay_sweep() -> None:
        if app.rebalancing or app.in_recovery:
            return  # tables may be incomplete; the next tick catches up
        try:
            rescored = await sweep.run_once(owned_partitions())
        except TIMER_SKIPPED_ERRORS as exc:
            # An exception escaping a Faust timer crashes the whole worker; the sweep is
            # best-effort (the schedule stays in Redis), so skip this tick and try the next.
            log.warning("decay sweep skipped: Redis unavailable (%s)", exc)
            return
        if rescored:
            log.info("decay sweep re-scored %d idle users", rescored)

    @app.timer(interval=settings.curve.follow_interval_s, name="curve-follow")  # type: ignore[untyped-decorator]
    async def curve_follow() -> None:
        if app.rebalancing or app.in_recovery:
            return  # tables may be incomplete; the next tick re-scores
        try:
            await follower.follow(owned_partitions())
        except TIMER_SKIPPED_ERRORS as exc:
            log.warning("curve follow skipped: Redis unavailable (%s)", exc)

    @app.timer(interval=settings.curve.refit_interval_s, name="curve-refit")  # type: ignore[untyped-decorator]
    async def curve_refit() -> None:
        try:
            await follower.refit_if_due(
                RefitPolicy.of(settings), settings.curve.refit_interval_s, topic_upkeep
            )
        except TIMER_SKIPPED_ERRORS as exc:
            log.warning("scheduled curve refit skipped: Redis unavailable (%s)", exc)

    return app


def run_worker(loglevel: str = "info", settings: Settings | None = None) -> int:
    """Run the worker in the foreground until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    settings = settings or get_settings()
    install_log_redaction(credential_values(settings))
    asyncio.run(ensure_topics(settings))
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    use_event_loop(settings)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="127.0.0.1")
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=loglevel)
    tune_garbage_collector(settings)
    # Faust's terminal spinner, kept at levels >= WARN, sets the root logger to DEBUG (every
    # debug record of every library gets built) and writes cursor codes into log files.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
