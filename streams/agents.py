"""The scoring agent: consume -> validate -> (re-key) -> dedupe -> apply -> score -> flush.

Events are handled in batches (`take_events`) so every round trip is per batch, not per event:
one dedupe pipeline, one actor-standing lookup, one score card per touched user, one pipelined
Redis write. User state comes from the write-behind cache (streams/state.py): the table gets one
write per changed user per flush, and a flush precedes every offset commit. Faust acks a batch only
after this function returns, so a crash replays the batch; replays are harmless because the
state records applied offsets per user and Redis writes are monotonic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import orjson
from aiokafka.partitioner import murmur2
from faust.types import EventT
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.scoring.events import (
    EngagementEvent,
    EventRules,
    InvalidEvent,
    Kind,
    event_to_json_dict,
    validate_event,
)
from app.scoring.model import ModelParams, score_from_raw
from app.scoring.signals import apply_event
from app.store.dedupe import EventDeduplicator
from app.store.due import DueIndex
from app.store.writer import ScoreWriter
from streams import metrics
from streams.ordering import InOrderGate
from streams.publishing import score_update
from streams.state import StateCache, StoredUser
from streams.topics import KIND_HEADER, Topics

log = logging.getLogger(__name__)
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
REKEY_LOOP_REASON = "re-keyed message on the wrong partition"


def partition_for(user_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a key (murmur2, as the Java client)."""
    return (int(murmur2(user_id.encode())) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event, with the message it came from."""

    event: EngagementEvent
    source: SourceEvent


class BatchScorer:
    """Turns a batch of raw messages into table updates, dead letters and score writes."""

    def __init__(
        self,
        *,
        topics: Topics,
        states: StateCache,
        writer: ScoreWriter,
        dedupe: EventDeduplicator,
        due: DueIndex,
        params: ModelParams,
        rules: EventRules,
        partitions: int,
        max_backoff_s: float,
        gate: InOrderGate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._topics = topics
        self._states = states
        self._writer = writer
        self._dedupe = dedupe
        self._due = due
        self._params = params
        self._rules = rules
        self._partitions = partitions
        self._backoff = ExponentialWithJitterBackoff(base=0.1, cap=max_backoff_s)
        self._clock = clock
        self._gate = gate

    async def process(self, batch: Sequence[SourceEvent]) -> None:
        """Handle one batch end to end; returns once its scores are in Redis."""
        started = time.perf_counter()
        if self._gate is not None:
            batch = await self._gate.admit(batch)
            await self._gate.seek_holes()
        batch = once_per_position(batch)
        if not batch:
            return
        now_ms = int(self._clock() * 1000)
        accepted = await self._triage(batch, now_ms)
        states, last_event = self._load_states(accepted)
        fresh = [
            a
            for a in accepted
            if not states[a.event.target_id].already_applied(
                a.source.message.topic, a.source.message.offset
            )
        ]
        metrics.REPLAYS_SKIPPED.inc(len(accepted) - len(fresh))
        counted = await self._drop_duplicates(fresh)
        await self._apply(counted, states)
        self._states.mark_changed({a.event.target_id for a in counted})
        await self._publish_scores(states, last_event, now_ms)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)

    async def _triage(self, batch: Sequence[SourceEvent], now_ms: int) -> list[Accepted]:
        """Validate; send invalid messages to dead letters and mis-partitioned ones to re-key."""
        accepted: list[Accepted] = []
        for source in batch:
            message = source.message
            metrics.EVENTS_CONSUMED.labels(topic=message.topic).inc()
            try:
                kind = self._kind_of(source)
                event = validate_event(_decode(message.value), kind, now_ms, self._rules)
            except InvalidEvent as exc:
                await self._dead_letter(source, exc.reason)
                continue
            except Exception as exc:
                # Validation sees hostile bytes: a failure we did not foresee is that message's
                # problem, not the batch's (an escaping exception loses the whole batch).
                log.exception("unexpected error validating %s", _position(source))
                await self._dead_letter(source, f"unprocessable: {type(exc).__name__}")
                continue
            if message.partition != partition_for(event.target_id, self._partitions):
                if message.topic == self._topics.rekeyed_name:
                    # Re-keying it again would loop: the topic's partition count is no longer
                    # CLOUT_TOPIC_PARTITIONS (checked at start), or it was written there by hand.
                    await self._dead_letter(source, REKEY_LOOP_REASON)
                    continue
                # The validated event, re-encoded: bounded in size whatever extra fields the
                # original carried (validation ignores them).
                await self._topics.rekeyed.send(
                    key=event.target_id.encode(),
                    value=orjson.dumps(event_to_json_dict(event)),
                    headers={KIND_HEADER: kind.value.encode()},
                )
                metrics.REKEYED.inc()
                continue
            accepted.append(Accepted(event, source))
        return accepted

    def _kind_of(self, source: SourceEvent) -> Kind:
        topic = source.message.topic
        if topic != self._topics.rekeyed_name:
            return self._topics.kind_of_topic[topic]
        headers = dict(source.message.headers or ())
        try:
            return Kind(bytes(headers[KIND_HEADER]).decode())
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"re-keyed message without a valid {KIND_HEADER} header") from exc

    async def _dead_letter(self, source: SourceEvent, reason: str) -> None:
        """Forward the original bytes with where they came from and why they were refused.

        Values over `DEAD_LETTER_MAX_VALUE_BYTES` (keys over `DEAD_LETTER_MAX_KEY_BYTES`) are cut,
        with `clout-error-value-bytes` / `clout-error-key-bytes` giving the original length.
        """
        message = source.message
        headers = {
            "clout-error-reason": reason.encode(),
            "clout-error-topic": message.topic.encode(),
            "clout-error-partition": str(message.partition).encode(),
            "clout-error-offset": str(message.offset).encode(),
        }
        key, value = message.key, message.value
        if key is not None and len(key) > DEAD_LETTER_MAX_KEY_BYTES:
            headers["clout-error-key-bytes"] = str(len(key)).encode()
            key = key[:DEAD_LETTER_MAX_KEY_BYTES]
        if value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES:
            headers["clout-error-value-bytes"] = str(len(value)).encode()
            value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
        await self._topics.dead_letters.send(key=key, value=value, headers=headers)
        metrics.DEAD_LETTERS.labels(reason=reason.split(":")[0]).inc()

    def _load_states(
        self, accepted: Sequence[Accepted]
    ) -> tuple[dict[str, StoredUser], dict[str, SourceEvent]]:
        """Each target's state (from the cache), and the last message that targets it."""
        states: dict[str, StoredUser] = {}
        last_event: dict[str, SourceEvent] = {}
        for item in accepted:
            user_id = item.event.target_id
            last_event[user_id] = item.source
            if user_id not in states:
                states[user_id] = self._states.get(user_id, item.source.message.partition)
        return states, last_event

    async def _drop_duplicates(self, fresh: Sequence[Accepted]) -> list[Accepted]:
        """Keep events whose id was not seen at another position within the dedupe window."""
        verdicts = await self._with_redis_retry(
            "dedupe",
            lambda: self._dedupe.first_sightings(
                [(a.event.event_id, _position(a.source)) for a in fresh]
            ),
        )
        counted = []
        for item, first in zip(fresh, verdicts, strict=True):
            if first:
                counted.append(item)
            else:
                await self._dead_letter(item.source, DUPLICATE_REASON)
        metrics.DUPLICATES.inc(len(fresh) - len(counted))
        return counted

    async def _apply(self, counted: Sequence[Accepted], states: dict[str, StoredUser]) -> None:
        """Fold counted events into the signals, weighting each by its actor's standing."""
        actors = sorted({a.event.actor_id for a in counted})
        raws = await self._with_redis_retry("actor lookup", lambda: self._writer.raws_of(actors))
        standing = {
            actor: None if raw is None else score_from_raw(raw, self._params)
            for actor, raw in zip(actors, raws, strict=True)
        }
        for item in counted:
            state = states[item.event.target_id]
            state.signals = apply_event(
                state.signals, item.event, standing[item.event.actor_id], self._params
            )
            state.mark_applied(item.source.message.topic, item.source.message.offset)
            metrics.EVENTS_COUNTED.labels(kind=item.event.kind.value).inc()

    async def _publish_scores(
        self, states: dict[str, StoredUser], last_event: dict[str, SourceEvent], now_ms: int
    ) -> None:
        """Score every user in the batch (replayed ones too: their last write may be missing)."""
        update = score_update(
            (
                (last_event[user_id].message.partition, user_id, state.signals)
                for user_id, state in states.items()
            ),
            now_ms,
            self._params,
        )
        await self._with_redis_retry("score write", lambda: self._writer.write(update.cards))
        await self._with_redis_retry("sweep schedule", lambda: self._due.schedule(update.schedule))
        metrics.SCORES_WRITTEN.inc(len(update.cards))

    async def _with_redis_retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Retry Redis with capped backoff; the agent stalls meanwhile (backpressure, no buffer)."""
        failures = 0
        while True:
            try:
                return await call()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
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


def _decode(value: bytes | None) -> object:
    if value is None:
        raise InvalidEvent("empty message")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg}") from exc


def once_per_position(batch: Sequence[SourceEvent]) -> list[SourceEvent]:
    """`batch` without repeated deliveries of the same message (topic, partition, offset).

    Around a seek Faust can deliver one message twice in the same batch. Both copies would pass
    the replay check (it reads the state as it was before the batch) and the deduplicator (a
    repeat at the same position is a replay, which counts), so the event counted twice.
    """
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for source in batch:
        message = source.message
        position = (message.topic, message.partition, message.offset)
        if position in seen:
            metrics.REPLAYS_SKIPPED.inc()
            continue
        seen.add(position)
        unique.append(source)
    return unique


def _position(source: SourceEvent) -> str:
    message = source.message
    return f"{message.topic}:{message.partition}:{message.offset}"
