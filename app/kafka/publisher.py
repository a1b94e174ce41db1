"""The producer SDK: validate engagement events the way the worker will, then send them to Kafka.

Validating before sending means a producer learns about a bad event immediately, with the same
reason the worker would have written to the dead-letter topic. Every event gets a result:
accepted (with its Kafka position) or rejected (with a reason); nothing is dropped silently.

Sends go through one idempotent producer (``enable_idempotence=True``, ``acks="all"``), so broker
retries never duplicate a message, and ``linger_ms`` lets concurrent sends share batches.

By default the valid events of one `publish_many` call travel in envelopes: per topic and target
partition (the murmur2 partitioner every Kafka client uses, `app.kafka.topics.partition_for`),
up to `envelope_max_events` events in one message, a JSON array of event objects that each carry
their `kind`. A group of one event is sent as a plain event object keyed by `target_id`, as
is everything with ``envelopes=False``. The worker judges each event of an envelope on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self, cast

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from app.core.lifecycle import AsyncClosing
from app.core.settings import Settings
from app.kafka.config import aiokafka_kwargs, raise_if_tls_refused
from app.kafka.topics import partition_for
from app.scoring.events import (
    ENVELOPE_MAX_EVENTS,
    MAX_ID_LEN,
    EngagementEvent,
    EventRules,
    InvalidEvent,
    Kind,
    envelope_item,
    event_to_json_dict,
    validate_event,
)

DEFAULT_LINGER_MS = 10


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What happened to one event: accepted with its Kafka position, or rejected with a reason."""

    accepted: bool
    reason: str | None = None
    event_id: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    index: int | None = None  # the event's place in its envelope (None: sent on its own)

    @classmethod
    def rejected(cls, reason: str, event_id: str | None = None) -> PublishResult:
        """A rejection; `reason` is the validation reason or the delivery error."""
        return cls(accepted=False, reason=reason, event_id=event_id)


def event_rules(settings: Settings) -> EventRules:
    """The validation rules the worker applies: the same Settings give the same rules."""
    return settings.model_params().event_rules


def parse_kind(kind: Kind | str) -> Kind:
    """A Kind from its name; raises InvalidEvent for anything else."""
    try:
        return Kind(kind)
    except ValueError:
        raise InvalidEvent(f"unknown kind: {str(kind)[:32]!r}") from None


class EventPublisher(AsyncClosing):
    """Validates and sends engagement events; use as ``async with EventPublisher(settings)``."""

    def __init__(
        self,
        settings: Settings,
        *,
        linger_ms: int = DEFAULT_LINGER_MS,
        clock_ms: Callable[[], int] | None = None,
        envelopes: bool = True,
        envelope_max_events: int = ENVELOPE_MAX_EVENTS,
    ) -> None:
        """`clock_ms` is the "now" validation measures event age against (default: wall clock).

        With `envelopes`, events of one call that share a topic and partition are sent together,
        up to `envelope_max_events` (1..500) per message.
        """
        if not 1 <= envelope_max_events <= ENVELOPE_MAX_EVENTS:
            raise ValueError(f"envelope_max_events must be 1..{ENVELOPE_MAX_EVENTS}")
        self._envelope_max = envelope_max_events if envelopes else 1
        self._settings = settings
        self._rules = event_rules(settings)
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._linger_ms = linger_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer (fetches cluster metadata; raises if Kafka is unreachable, and
        `app.security.tls.TlsRefused` if the brokers' certificate is refused)."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            **aiokafka_kwargs(self._settings),
            enable_idempotence=True,
            acks="all",
            linger_ms=self._linger_ms,
        )
        try:
            await producer.start()
        except KafkaError:
            await raise_if_tls_refused(self._settings)
            raise
        self._producer = producer

    async def aclose(self) -> None:
        """Deliver everything still buffered, then disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def validate(self, kind: Kind | str, event: object) -> EngagementEvent:
        """The event as the worker will see it, or InvalidEvent with the worker's reason."""
        return validate_event(event, parse_kind(kind), self._clock_ms(), self._rules)

    async def publish(self, kind: Kind | str, event: Mapping[str, Any] | object) -> PublishResult:
        """Validate and send one event, waiting for the broker's acknowledgement."""
        (result,) = await self.publish_many([(kind, event)])
        return result

    async def publish_many(
        self, events: Iterable[tuple[Kind | str, Mapping[str, Any] | object]]
    ) -> list[PublishResult]:
        """Validate and send (kind, event) pairs; one result per pair, in input order.

        Valid events are all handed to the producer before any acknowledgement is awaited, so
        they travel in shared batches; a delivery failure rejects only the events it hit.
        """
        producer = self._require_started()
        results: list[PublishResult | None] = []
        groups: dict[tuple[str, int], list[tuple[int, EngagementEvent]]] = defaultdict(list)
        partitions: dict[str, int] = {}
        for kind, raw in events:
            index = len(results)
            try:
                event = self.validate(kind, raw)
            except InvalidEvent as exc:
                results.append(PublishResult.rejected(exc.reason, _event_id_of(raw)))
                continue
            results.append(None)
            topic = self._settings.topic_of_kind[event.kind]
            if topic not in partitions:
                partitions[topic] = len(await producer.partitions_for(topic))
            groups[(topic, partition_for(event.target_id, partitions[topic]))].append(
                (index, event)
            )
        pending: list[tuple[list[tuple[int, EngagementEvent]], asyncio.Future[Any]]] = []
        for (topic, partition), members in groups.items():
            for start in range(0, len(members), self._envelope_max):
                message = members[start : start + self._envelope_max]
                try:
                    future = await self._send(producer, topic, partition, message)
                except Exception as exc:
                    for index, event in message:
                        results[index] = PublishResult.rejected(
                            f"not sent: {_describe(exc)}", event.event_id
                        )
                    continue
                pending.append((message, future))
        outcomes = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (message, _), outcome in zip(pending, outcomes, strict=True):
            for place, (index, event) in enumerate(message):
                if isinstance(outcome, BaseException):
                    results[index] = PublishResult.rejected(
                        f"not delivered: {_describe(outcome)}", event.event_id
                    )
                else:
                    results[index] = PublishResult(
                        accepted=True,
                        event_id=event.event_id,
                        topic=outcome.topic,
                        partition=outcome.partition,
                        offset=outcome.offset,
                        index=place if len(message) > 1 else None,
                    )
        final = [r for r in results if r is not None]
        if len(final) != len(results):  # every branch above sets a result
            raise AssertionError("an event was left without a result")
        return final

    async def _send(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partition: int,
        message: list[tuple[int, EngagementEvent]],
    ) -> asyncio.Future[Any]:
        """Hand one message to the producer: a plain event, or an envelope of several."""
        if len(message) == 1:
            ((_, event),) = message
            value = orjson.dumps(event_to_json_dict(event))
            key: bytes | None = event.target_id.encode()
        else:
            value = orjson.dumps([envelope_item(event) for _, event in message])
            key = None
        future = await producer.send(topic, value=value, key=key, partition=partition)
        return cast("asyncio.Future[Any]", future)

    def _require_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("EventPublisher is not started; use `async with` or start()")
        return self._producer

    async def __aenter__(self) -> Self:
        await self.start()
        return self


def _event_id_of(raw: object) -> str | None:
    """The event id of a rejected event, if it has a usable one (for the report)."""
    if isinstance(raw, Mapping):
        value = raw.get("event_id")
        if isinstance(value, str):
            return value[:MAX_ID_LEN]
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
