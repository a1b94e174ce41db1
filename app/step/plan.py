"""The scoring step as pure functions: a batch of raw messages in, what to do about it out.

No Faust, no I/O: the worker's executor (streams/executor.py) and the simulation
(app/simulation/replay.py) read state and stored scores, send and write; these functions decide.
Two steps, because two answers need a round trip in between:

1. `triage` turns messages into events: each single-event message or envelope item is validated
   on its own and comes out accepted (with its position), dead-lettered (with its reason and,
   for an envelope item, its index) or re-keyed (it belongs to another partition).
2. `fold` applies accepted events to per-user state, given the deduplicator's verdicts and the
   actors' standings: events already applied (a replay) or repeated (a duplicate) are left out.

A position is (topic, partition, offset, index): `index` is the item's place in an envelope, and
None for a message that carries one event. Replay detection compares positions per user and
topic (app/step/stored_user.py `StoredUser.applied`), so it works per item of an envelope.

Both steps run in the compiled kernel (kernel/, `clout_kernel`), one call per batch part; the
Python model (app/scoring) and `reference_triage` stay the readable reference it is tested
against (tests/unit/kernel). The kernel leaves to the reference what it cannot judge exactly:
messages of the re-key topic (their kind is in a header), JSON its parser refuses (the reason
quotes orjson's own message) and a `ts` written `-0`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Protocol

import clout_kernel
import orjson

from app.scoring.events import (
    ENVELOPE_MAX_EVENTS,
    EngagementEvent,
    EventRules,
    InvalidEvent,
    Kind,
    envelope_item_kind,
    validate_event,
)
from app.scoring.model import Curve, ModelParams, score_from_raw
from app.step.score_update import kernel_scorer
from app.step.stored_user import StoredUser

KIND_HEADER = "clout-kind"
"""Header carrying the kind of a message on the re-key topic (it mixes all kinds)."""
REKEY_LOOP_REASON = "re-keyed message on the wrong partition"
ENVELOPE_ON_REKEY_REASON = "envelope on the re-key topic"


class RawMessage(Protocol):
    """What the plan reads of a Kafka message (Faust's `Message` has these attributes)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> object: ...


@dataclass(frozen=True, slots=True)
class Position:
    """Where one event was read: its message, and its index when the message is an envelope."""

    topic: str
    partition: int
    offset: int
    index: int | None = None

    def token(self) -> str:
        """The deduplicator's record of this position (single events keep the pre-envelope form)."""
        base = f"{self.topic}:{self.partition}:{self.offset}"
        return base if self.index is None else f"{base}:{self.index}"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event on its user's partition, and where it was read."""

    event: EngagementEvent
    position: Position
    message: int  # index of its message in the triaged batch


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refusal: the message (by batch index), why, and which envelope item (None: all of it)."""

    message: int
    reason: str
    index: int | None = None
    item: object = None  # the refused envelope item, as decoded


@dataclass(frozen=True, slots=True)
class Rekey:
    """A valid event read on a partition that is not its target's: send it to the right one."""

    event: EngagementEvent


@dataclass(slots=True)
class Triage:
    """What `triage` decided for a batch, in batch order within each list."""

    accepted: list[Accepted] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    rekeys: list[Rekey] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)  # per topic, envelope items each count


@dataclass(frozen=True, slots=True)
class Routing:
    """What triage needs to know about topics and partitioning."""

    kind_of_topic: Mapping[str, Kind]
    rekeyed_topic: str
    partitions: int


class PartitionFor(Protocol):
    """Kafka's default partitioner: the partition a key lands on."""

    def __call__(self, user_id: str, partitions: int) -> int: ...


def triage(
    batch: Sequence[RawMessage],
    now_ms: int,
    rules: EventRules,
    routing: Routing,
    partition_for: PartitionFor,
) -> Triage:
    """Validate every event of `batch` on its own; see the module docstring."""
    chunks = triage_in_chunks(batch, now_ms, rules, routing, partition_for, max_events=None)
    return next(chunks, Triage())


def triage_in_chunks(
    batch: Sequence[RawMessage],
    now_ms: int,
    rules: EventRules,
    routing: Routing,
    partition_for: PartitionFor,
    max_events: int | None,
) -> Iterator[Triage]:
    """`triage`, in parts of about `max_events` events (whole messages; None: one part).

    A batch of envelopes holds up to 500 times as many events as messages: carried out in parts,
    each part's Redis calls stay bounded, the event loop gets a turn between them, and the
    kernel judges a part only when it is asked for, so one part's events exist as Python
    objects at a time, not the batch's. Message numbers in every part index `batch`;
    `partition_for` serves the messages the kernel leaves to the reference.
    """
    reference = _Triager(now_ms, rules, routing, partition_for)
    deferred: dict[int, Triage] = {}

    def defer(number: int, message: RawMessage) -> int:
        reference.out = deferred[number] = Triage()
        reference.add(number, message)
        return reference.out.events.total()

    kernel = clout_kernel.Triager(
        kinds=tuple(Kind),
        kinds_by_topic=routing.kind_of_topic,
        partitions=routing.partitions,
        horizon_ms=rules.horizon_ms,
        max_future_ms=rules.max_future_ms,
        max_id_len=rules.max_id_len,
        event_type=EngagementEvent,
        position_type=Position,
        accepted_type=Accepted,
    )
    for part in kernel.triage(batch, now_ms, max_events, defer):
        yield _assemble(part, deferred)


def _assemble(part: clout_kernel.Part, deferred: Mapping[int, Triage]) -> Triage:
    """A kernel part as a `Triage`, with the reference's verdicts on the messages it deferred
    merged in batch order."""
    accepted, refused, rekeyed, events, numbers = part
    out = Triage(
        accepted,
        [
            DeadLetter(message, reason, index, None if item is None else orjson.loads(item))
            for message, reason, index, item in refused
        ],
        [Rekey(event) for _, _, event in rekeyed],
        Counter(events),
    )
    if numbers:
        judged = [deferred[number] for number in numbers]
        by_message = attrgetter("message")
        out.accepted = sorted(accepted + [a for t in judged for a in t.accepted], key=by_message)
        merged = out.dead_letters + [d for t in judged for d in t.dead_letters]
        out.dead_letters = sorted(merged, key=by_message)
        rekeys = [(message, Rekey(event)) for message, _, event in rekeyed]
        rekeys += [(number, r) for number, t in zip(numbers, judged, strict=True) for r in t.rekeys]
        out.rekeys = [rekey for _, rekey in sorted(rekeys, key=itemgetter(0))]
    return out


def reference_triage(
    batch: Sequence[RawMessage],
    now_ms: int,
    rules: EventRules,
    routing: Routing,
    partition_for: PartitionFor,
    max_events: int | None,
) -> Iterator[Triage]:
    """`triage_in_chunks` in Python: the reference the kernel is tested against."""
    triager = _Triager(now_ms, rules, routing, partition_for)
    for number, message in enumerate(batch):
        triager.add(number, message)
        if max_events is not None and triager.out.events.total() >= max_events:
            yield triager.out
            triager.out = Triage()
    if triager.out.events:
        yield triager.out


@dataclass(slots=True)
class _Triager:
    now_ms: int
    rules: EventRules
    routing: Routing
    partition_for: PartitionFor
    out: Triage = field(default_factory=Triage)

    def add(self, number: int, message: RawMessage) -> None:
        try:
            kind = _kind_of(message, self.routing)
            decoded = _decode(message.value)
        except InvalidEvent as exc:
            self._refuse_message(number, message, exc.reason)
            return
        if isinstance(decoded, list):
            self._envelope(number, message, kind, decoded)
        else:
            self.out.events[message.topic] += 1
            self._one(number, message, kind, decoded, None)

    def _refuse_message(self, number: int, message: RawMessage, reason: str) -> None:
        self.out.events[message.topic] += 1
        self.out.dead_letters.append(DeadLetter(number, reason))

    def _envelope(self, number: int, message: RawMessage, kind: Kind, items: list[object]) -> None:
        if message.topic == self.routing.rekeyed_topic:
            self._refuse_message(number, message, ENVELOPE_ON_REKEY_REASON)
            return
        if not 1 <= len(items) <= ENVELOPE_MAX_EVENTS:
            reason = f"envelope of {len(items)} events (1..{ENVELOPE_MAX_EVENTS})"
            self._refuse_message(number, message, reason)
            return
        self.out.events[message.topic] += len(items)
        for index, item in enumerate(items):
            try:
                envelope_item_kind(item, kind)
            except InvalidEvent as exc:
                self.out.dead_letters.append(DeadLetter(number, exc.reason, index, item))
                continue
            self._one(number, message, kind, item, index)

    def _one(
        self, number: int, message: RawMessage, kind: Kind, obj: object, index: int | None
    ) -> None:
        out = self.out
        try:
            event = validate_event(obj, kind, self.now_ms, self.rules)
        except InvalidEvent as exc:
            out.dead_letters.append(DeadLetter(number, exc.reason, index, obj))
            return
        except Exception as exc:
            # Validation sees hostile input: a failure nobody foresaw is that event's problem,
            # not the batch's (an escaping exception would lose the whole batch).
            reason = f"unprocessable: {type(exc).__name__}"
            out.dead_letters.append(DeadLetter(number, reason, index, obj))
            return
        if message.partition != self.partition_for(event.target_id, self.routing.partitions):
            if message.topic == self.routing.rekeyed_topic:
                # Re-keying it again would loop: the topic's partition count is no longer
                # CLOUT_TOPIC_PARTITIONS (checked at start), or it was written there by hand.
                out.dead_letters.append(DeadLetter(number, REKEY_LOOP_REASON, index, obj))
            else:
                out.rekeys.append(Rekey(event))
            return
        position = Position(message.topic, message.partition, message.offset, index)
        out.accepted.append(Accepted(event, position, number))


def _kind_of(message: RawMessage, routing: Routing) -> Kind:
    topic = message.topic
    if topic != routing.rekeyed_topic:
        return routing.kind_of_topic[topic]
    headers = dict(message.headers or ())  # type: ignore[call-overload]
    try:
        return Kind(bytes(headers[KIND_HEADER]).decode())
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent(f"re-keyed message without a valid {KIND_HEADER} header") from exc


def _decode(value: bytes | None) -> object:
    if value is None:
        raise InvalidEvent("empty message")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg}") from exc


# -- step 2: fold ----------------------------------------------------------------------------


def split_replays(
    accepted: Sequence[Accepted], states: Mapping[str, StoredUser]
) -> tuple[list[Accepted], list[Accepted]]:
    """(fresh, replayed): the events their user's state has not absorbed yet, and the rest."""
    fresh: list[Accepted] = []
    replayed: list[Accepted] = []
    for a in accepted:
        position = a.position
        state = states[a.event.target_id]
        done = state.already_applied(position.topic, position.offset, position.index)
        (replayed if done else fresh).append(a)
    return fresh, replayed


@dataclass(slots=True)
class Folded:
    """What `fold` did: the events counted and the repeats it left out."""

    counted: list[Accepted] = field(default_factory=list)
    duplicates: list[Accepted] = field(default_factory=list)

    @property
    def changed_users(self) -> set[str]:
        """Users whose state changed."""
        return {a.event.target_id for a in self.counted}


def stored_standing_needed(actors: Iterable[str], unscored: Mapping[str, StoredUser]) -> list[str]:
    """The actors whose standing must be read from Redis: those `standings` cannot grade from
    a state of this batch."""
    return [actor for actor in actors if _signals_of(unscored, actor) is None]


def standings(
    actors: Iterable[str],
    stored_raws: Mapping[str, float | None],
    unscored: Mapping[str, StoredUser],
    now_ms: int,
    params: ModelParams,
    curve: Curve,
) -> dict[str, float | None]:
    """Each actor's score as an event's weight uses it (None: not scored yet).

    An actor in `unscored` (a user this batch changed, whose card is not written yet) is graded
    from that state at `now_ms`, which is what its card will say; any other from its raw as
    Redis holds it (`stored_raws`, read for `stored_standing_needed`). Its standing then never
    lags what the batch has already counted. The readable reference: `PartFold` grades in the
    kernel (`Scorer.standings`, tested equal in tests/unit/kernel/test_differential.py).
    """
    out: dict[str, float | None] = {}
    for actor in actors:
        signals = _signals_of(unscored, actor)
        raw = stored_raws.get(actor) if signals is None else signals.raw_at(now_ms, params)
        out[actor] = None if raw is None else score_from_raw(raw, curve)
    return out


def _signals_of(states: Mapping[str, StoredUser], user_id: str) -> clout_kernel.Signals | None:
    state = states.get(user_id)
    return None if state is None else state.signals


def fold(
    fresh: list[Accepted],
    first_sightings: list[bool],
    states: dict[str, StoredUser],
    standing: dict[str, float | None],
    params: ModelParams,
) -> Folded:
    """Apply each fresh first sighting to its user's state (in place), weighted by its actor:
    `apply_event` and `mark_applied` for each, in the kernel, in one call."""
    clout_kernel.fold(fresh, first_sightings, states, standing, params)
    out = Folded()
    for item, first in zip(fresh, first_sightings, strict=True):
        (out.counted if first else out.duplicates).append(item)
    return out


class PartFold:
    """The fold of one batch part, between the two lookups it needs: the deduplicator's verdicts,
    then the stored scores of the actors the part's own states cannot grade.

    The worker answers both from Redis and the simulation from memory; calling the same steps in
    the same order (`sightings`, `stored_actors`, `fold`) is what keeps the two one model.
    """

    def __init__(self, accepted: Sequence[Accepted], states: dict[str, StoredUser]) -> None:
        """`states`: every accepted event's target, as its state stands before this part."""
        self.states = states
        self.fresh, self.replayed = split_replays(accepted, states)
        self._first: list[bool] = []
        self._actors: list[str] = []
        self._stored: list[str] = []

    def sightings(self) -> list[tuple[str, str]]:
        """(event id, position token) of each fresh event: what the deduplicator judges."""
        return [(a.event.event_id, a.position.token()) for a in self.fresh]

    def stored_actors(self, first: list[bool], unscored: Mapping[str, StoredUser]) -> list[str]:
        """Given the verdicts on `sightings`, the actors whose stored raw `fold` needs."""
        self._first = first
        self._actors = sorted(
            {a.event.actor_id for a, ok in zip(self.fresh, first, strict=True) if ok}
        )
        self._stored = stored_standing_needed(self._actors, unscored)
        return self._stored

    def fold(
        self,
        raws: Sequence[float | None],
        unscored: Mapping[str, StoredUser],
        now_ms: int,
        params: ModelParams,
        curve: Curve,
    ) -> Folded:
        """Apply the part, given the stored raws of `stored_actors` (in its order)."""
        standing = kernel_scorer(curve).standings(
            self._actors, dict(zip(self._stored, raws, strict=True)), unscored, now_ms, params
        )
        return fold(self.fresh, self._first, self.states, standing, params)


def once_per_position(batch: Sequence[RawMessage]) -> list[int]:
    """Indices of `batch` without repeated deliveries of one message (topic, partition, offset).

    Around a seek Faust can deliver one message twice in the same batch. Both copies would pass
    the replay check (it reads the state as it was before the batch) and the deduplicator (a
    repeat at the same position is a replay, which counts), so the event counted twice.
    """
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for number, message in enumerate(batch):
        position = (message.topic, message.partition, message.offset)
        if position not in seen:
            seen.add(position)
            unique.append(number)
    return unique
