"""Carries a batch's plan out: state from the cache, Redis round trips, dead letters, re-keys.

The decisions are made by the pure step (app/step/, which the simulation runs too); this module
does the I/O in between and after, per part of a batch rather than per event (one dedupe call,
one actor-standing lookup, around `plan.PartFold`), and per batch: one score card per touched
user, however many parts changed it, one pipelined Redis write and its score feed records
(streams/feed.py). An actor whose card the batch has yet to write weighs with the standing its
state gives (`plan.standings`), not the older one in Redis. User state comes from the
write-behind cache (streams/state.py), so the table gets one write per changed user per flush and
a flush precedes every offset commit.

A batch's score write runs behind the next batch: `process` returns once its cards are made and
their write has started, so the worker decodes and folds the next batch while Redis applies
them. One write is in flight at most (the next waits for it), an actor whose card is in flight
weighs with that card's raw (what Redis holds once it lands, not the older one), and the commit
protocol waits for it (`settle`, streams/commit.py) before any offset of its batch is committed.
Faust acks a batch once `process` returns, so a crash before that commit replays the batch;
replays are harmless because the state records the positions applied per user and Redis writes
are monotonic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson
from faust.types import EventT, Message

from app.kafka.topics import partition_for
from app.scoring.events import EventRules, envelope_item, event_to_json_dict
from app.scoring.model import NO_TOPIC_CURVES, Curve, ModelParams, TopicCurves
from app.step import plan
from app.step.plan import KIND_HEADER, Accepted, DeadLetter
from app.step.score_update import ScoreUpdate, score_update
from app.step.stored_user import StoredUser
from app.store.connection import TRANSIENT_STORE_ERRORS, transient_error_backoff
from app.store.dedupe import EventDeduplicator
from app.store.due import DueIndex
from app.store.writer import ScoreWriter
from streams import metrics
from streams.feed import FeedProducer
from streams.ordering import InOrderGate
from streams.state import StateCache
from streams.topics import Topics

log = logging.getLogger(__name__)
# Retried with backoff: Redis (or a cluster failover) is away for a while.
RETRIED_REDIS_ERRORS: tuple[type[Exception], ...] = (*TRANSIENT_STORE_ERRORS, OSError)
T = TypeVar("T")
SourceEvent = EventT[bytes]

DEAD_LETTER_MAX_VALUE_BYTES = 256 * 1024
"""A refused value longer than this is cut in its dead letter (the header keeps its length).

The broker accepts messages up to ~1 MB, while the worker's producer refuses to send more than
1,000,000 bytes; forwarding such a message whole plus our headers failed, crashed the agent and
lost its batch. The origin headers still point at the full message in its input topic.
"""
DEAD_LETTER_MAX_KEY_BYTES = 1024
DUPLICATE_REASON = "duplicate event_id"
SCORE_WRITE_TASK = "clout score write"
"""The name of the task a batch's score write runs in (a crash of the process ends it)."""


class BatchScorer:
    """Turns a batch of raw messages into state updates, dead letters and score writes."""

    def __init__(
        self,
        *,
        topics: Topics,
        states: StateCache,
        writer: ScoreWriter,
        feed: FeedProducer,
        dedupe: EventDeduplicator,
        due: DueIndex,
        params: ModelParams,
        curve: Callable[[], Curve],
        topic_curves: Callable[[], TopicCurves] = lambda: NO_TOPIC_CURVES,
        rules: EventRules,
        partitions: int,
        max_backoff_s: float,
        part_events: int,
        gate: InOrderGate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`part_events`: events carried out together (at most the state cache's size)."""
        if not 1 <= part_events <= states.capacity:
            raise ValueError("part_events must be 1..the state cache's capacity")
        self._part_events = part_events
        self._topics = topics
        self._states = states
        self._writer = writer
        self._feed = feed
        self._dedupe = dedupe
        self._due = due
        self._params = params
        self._curve = curve
        self._topic_curves = topic_curves
        self._rules = rules
        self._routing = plan.Routing(topics.kind_of_topic, topics.rekeyed_name, partitions)
        self._backoff = transient_error_backoff(max_backoff_s)
        self._clock = clock
        self._gate = gate
        self._batch_started: float | None = None
        self._writing: asyncio.Task[None] | None = None
        self._writing_raws: dict[str, float] = {}

    def busy_for(self) -> float:
        """Seconds the batch in hand has taken so far (0 between batches): a long one means the
        agent is stuck (Redis retries), not that a partition stopped delivering."""
        started = self._batch_started
        return 0.0 if started is None else time.perf_counter() - started

    async def process(self, batch: Sequence[SourceEvent]) -> None:
        """Handle one batch; returns once its score write has started (`settle` waits for it)."""
        self._batch_started = time.perf_counter()
        try:
            await self._process(batch, self._batch_started)
        finally:
            self._batch_started = None

    async def settle(self) -> None:
        """Wait until the score write in flight (if any) is in Redis and its feed records are
        queued with the producer. A write that failed raises here, and at every later call:
        no commit may vouch for its batch, and the agent stops at its next batch."""
        writing = self._writing
        if writing is None:
            return
        await writing
        if self._writing is writing:
            self._writing, self._writing_raws = None, {}

    async def _process(self, batch: Sequence[SourceEvent], started: float) -> None:
        if self._gate is not None:
            batch = await self._gate.admit(batch)
            await self._gate.seek_holes()
        messages = [source.message for source in batch]
        unique = plan.once_per_position(messages)
        metrics.REPLAYS_SKIPPED.inc(len(messages) - len(unique))
        messages = [messages[i] for i in unique]
        if not messages:
            return
        now_ms = int(self._clock() * 1000)
        unscored = _Unscored()
        parts = plan.triage_in_chunks(
            messages, now_ms, self._rules, self._routing, partition_for, self._part_events
        )
        # One part at a time: a batch of envelopes may hold far more events than a part, and
        # only the part being carried out exists as Python objects.
        while True:
            with metrics.stage("decode_validate"):
                part = next(parts, None)
            if part is None:
                break
            targets = {a.event.target_id for a in part.accepted}
            if len(unscored.states) + len(targets - unscored.states.keys()) > self._states.capacity:
                # Unscored users must stay cached (their state objects are the cache's).
                await self._publish_scores(unscored, now_ms)
                unscored = _Unscored()
            await self._carry_out(messages, part, now_ms, unscored)
        await self._publish_scores(unscored, now_ms)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _carry_out(
        self, messages: Sequence[Message], triage: plan.Triage, now_ms: int, unscored: _Unscored
    ) -> None:
        """Do what one part of a batch's plan says: sends, then state; its users join
        `unscored`, scored once for all the parts that changed them."""
        for topic, events in triage.events.items():
            metrics.EVENTS_CONSUMED.labels(topic=topic).inc(events)
        for refusal in triage.dead_letters:
            await self._dead_letter(messages[refusal.message], refusal)
        for rekey in triage.rekeys:
            await self._topics.rekeyed.send(
                key=rekey.event.target_id.encode(),
                value=orjson.dumps(event_to_json_dict(rekey.event)),
                headers={KIND_HEADER: rekey.event.kind.value.encode()},
            )
        metrics.REKEYED.inc(len(triage.rekeys))

        with metrics.stage("fold"):
            states = self._load_states(triage.accepted)
            unscored.add(states, triage.accepted)
            part = plan.PartFold(triage.accepted, states)
        if part.replayed:
            metrics.REPLAYS_SKIPPED.inc(len(part.replayed))
            # A replayed user's state may be in the local store but not yet in the changelog
            # (killed after the store write, before the producer sent it): write it again, so a
            # rebuild from the changelog elsewhere cannot miss what the replay skipped.
            self._states.mark_changed({a.event.target_id for a in part.replayed})
        first = await self._with_redis_retry(
            "dedupe", lambda: self._dedupe.first_sightings(part.sightings())
        )
        with metrics.stage("fold"):
            stored = part.stored_actors(first, unscored.states)
        raws = await self._stored_raws(stored)
        with metrics.stage("fold"):
            folded = part.fold(raws, unscored.states, now_ms, self._params, self._curve())
            self._states.mark_changed(folded.changed_users)
        for repeat in folded.duplicates:
            index = repeat.position.index
            item = None if index is None else envelope_item(repeat.event)
            refusal = DeadLetter(repeat.message, DUPLICATE_REASON, index, item)
            await self._dead_letter(messages[repeat.message], refusal)
        unscored.duplicates += len(folded.duplicates)
        unscored.counted.update(a.event.kind.value for a in folded.counted)

    def _load_states(self, accepted: Sequence[Accepted]) -> dict[str, StoredUser]:
        """Each target's state, from the write-behind cache."""
        states: dict[str, StoredUser] = {}
        for item in accepted:
            user_id = item.event.target_id
            if user_id not in states:
                states[user_id] = self._states.get(user_id, item.position.partition)
        return states

    async def _dead_letter(self, message: Message, refusal: DeadLetter) -> None:
        """Forward what was refused with where it came from and why.

        A whole message is forwarded as its original bytes; an envelope item as its own JSON,
        with `clout-error-index` saying where it sat in the envelope. Values over
        `DEAD_LETTER_MAX_VALUE_BYTES` (keys over `DEAD_LETTER_MAX_KEY_BYTES`) are cut, with
        `clout-error-value-bytes` / `clout-error-key-bytes` giving the original length.
        """
        if refusal.reason.startswith("unprocessable"):
            log.warning("%s at %s", refusal.reason, _position(message, refusal.index))
        headers = {
            "clout-error-reason": refusal.reason.encode(),
            "clout-error-topic": message.topic.encode(),
            "clout-error-partition": str(message.partition).encode(),
            "clout-error-offset": str(message.offset).encode(),
        }
        key: bytes | None = message.key
        value: bytes | None = message.value
        if refusal.index is not None:
            headers["clout-error-index"] = str(refusal.index).encode()
            value = orjson.dumps(refusal.item)
        if key is not None and len(key) > DEAD_LETTER_MAX_KEY_BYTES:
            headers["clout-error-key-bytes"] = str(len(key)).encode()
            key = key[:DEAD_LETTER_MAX_KEY_BYTES]
        if value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
            headers["clout-error-value-bytes"] = str(len(value)).encode()
            value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
        await self._topics.dead_letters.send(key=key, value=value, headers=headers)
        metrics.DEAD_LETTERS.labels(reason=refusal.reason.split(":")[0]).inc()

    async def _stored_raws(self, actors: list[str]) -> list[float | None]:
        """The raws Redis holds for `actors`, or will once the write in flight lands."""
        writing = self._writing_raws
        ask = [actor for actor in actors if actor not in writing]
        found = dict(zip(ask, await self._lookup(ask), strict=True))
        return [writing[actor] if actor in writing else found[actor] for actor in actors]

    async def _lookup(self, actors: list[str]) -> list[float | None]:
        if not actors:
            return []
        return await self._with_redis_retry(
            "actor lookup", lambda: self._writer.leaderboard.raws(actors)
        )

    async def _publish_scores(self, unscored: _Unscored, now_ms: int) -> None:
        """Score every unscored user (replayed ones too: their last write may be missing) and
        start writing their cards, once the previous write has landed."""
        with metrics.stage("scoring"):
            update = score_update(
                (
                    (unscored.partitions[user_id], user_id, state.signals)
                    for user_id, state in unscored.states.items()
                ),
                now_ms,
                self._params,
                self._curve(),
                self._topic_curves(),
            )
        fences = {
            user_id: self._states.generation(partition)
            for user_id, partition in unscored.partitions.items()
        }
        await self.settle()
        self._writing_raws = {card.user_id: float(card.raw) for card in update.cards}
        self._writing = asyncio.create_task(
            self._write_scores(update, fences, unscored), name=SCORE_WRITE_TASK
        )

    async def _write_scores(
        self, update: ScoreUpdate, fences: dict[str, int], unscored: _Unscored
    ) -> None:
        """Cards, then the sweep schedule, into Redis; then count the events they scored."""
        await self._with_redis_retry(
            "score write", lambda: self._feed.write(update.cards, "event", fences), "score_write"
        )
        await self._with_redis_retry("sweep schedule", lambda: self._due.schedule(update.schedule))
        metrics.SCORES_WRITTEN.inc(len(update.cards))
        # Counted once their scores are in Redis: a reader of these counters (the benchmark, an
        # operator) may take "counted" to mean "visible".
        metrics.DUPLICATES.inc(unscored.duplicates)
        for kind, counted in unscored.counted.items():
            metrics.EVENTS_COUNTED.labels(kind=kind).inc(counted)

    async def _with_redis_retry(
        self, what: str, call: Callable[[], Awaitable[T]], stage: str = "redis"
    ) -> T:
        """Retry Redis with capped backoff; the agent stalls meanwhile (backpressure, no buffer).
        The time counts toward `stage` (metrics.STAGES)."""
        with metrics.stage(stage):
            return await self._retrying(what, call)

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        while True:
            try:
                return await call()
            except RETRIED_REDIS_ERRORS as exc:
                failures += 1
                delay = self._backoff.compute(failures)
                metrics.REDIS_RETRIES.labels(operation=what).inc()
                log.warning(
                    "Redis unavailable during %s (attempt %d: %s); retrying in %.1fs",
                    what,
                    failures,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)


@dataclass(slots=True)
class _Unscored:
    """Users the parts of a batch changed since its last score write, and their events."""

    states: dict[str, StoredUser] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    counted: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0

    def add(self, states: dict[str, StoredUser], accepted: Sequence[Accepted]) -> None:
        """Join a part's users (the cache's state objects) with their partitions."""
        self.states.update(states)
        for item in accepted:
            self.partitions[item.event.target_id] = item.position.partition


def _position(message: Message, index: int | None) -> str:
    where = f"{message.topic}:{message.partition}:{message.offset}"
    return where if index is None else f"{where}[{index}]"
