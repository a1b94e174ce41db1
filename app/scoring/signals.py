"""Per-user signal state, updated in O(1) per event: what the worker keeps in its table.

For each target user, `UserSignals` holds:

* decayed sums per (kind, network): `S <- S * 2 ** (-dt / H_kind) + w`;
* a bounded map of the heaviest engaging actors (at most `ModelParams.top_actors`), each with a
  decayed engagement count (for repeat damping) and a decayed contribution (for the explanation);
* a small HyperLogLog (64 registers, two rotating epochs of half the horizon) for distinct
  engagers;
* a short-half-life counter of engagements from unproven actors (burst damping);
* a bounded map of the heaviest topics the user was engaged about (at most
  `ModelParams.top_topics`), each with its decayed weighted engagement per kind, and the decayed
  total of all topic-tagged engagement (so a share survives the eviction of light topics).

Sums and actor entries use *forward decay*: values are stored relative to a landmark time `L`
(`g = S * 2 ** ((t - L) / H)`), so an event only touches its own entry (one `2 ** x` per
half-life) instead of decaying every entry, and an out-of-order event is handled by the same
formula (its weight is decayed back, the sums are left alone). The landmark is moved forward
(all entries rescaled, decayed-out entries dropped) once `t - L` exceeds `REBASE_AFTER_MS`, which
keeps stored numbers close to their real values and lets state shrink as signals fade.
"""

from __future__ import annotations

import math
from hashlib import blake2b
from itertools import islice
from typing import Protocol

from app.scoring.decay import MS_PER_DAY, decay_factor
from app.scoring.events import EngagementEvent
from app.scoring.params import (
    CODE_KIND,
    KIND_CODE,
    ModelParams,
    actor_weight,
    is_unproven,
)

REBASE_AFTER_MS = 28 * MS_PER_DAY
"""Move the landmark once it is this far behind the state's time (rescaling all entries)."""

PRUNE_BELOW = 1e-4
"""At a rebase, entries decayed below this are dropped: they can no longer move a score."""

HLL_REGISTERS = 64
"""HyperLogLog size: about 13% standard error, 64 bytes per epoch; exact enough to explain."""

_HLL_ALPHA = 0.709  # bias correction for m = 64 (Flajolet et al.)
_CODE_NAME = {code: kind.value for code, kind in CODE_KIND.items()}
_CODE_INDEX = {code: i for i, code in enumerate(CODE_KIND)}  # l, s, m: a topic entry's slots
_INV_POW2 = tuple(2.0**-r for r in range(64))
_HLL_SPARSE_MAX = 8  # at most this many non-zero registers are stored as a short list
_B64 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
_ENCODE = bytes(_B64[i] if i < 64 else 0 for i in range(256))
_DECODE = bytes(_B64.index(i) if i in _B64 else 0 for i in range(256))


class SignalsView(Protocol):
    """What scoring reads of a user's signals: a `UserSignals`, or the worker's state, the
    compiled kernel's `Signals` (kernel/), which has these methods with the same results."""

    def kind_totals(self, now_ms: int, params: ModelParams) -> dict[str, float]: ...

    def raw_at(self, now_ms: int, params: ModelParams) -> float: ...

    def components_at(self, now_ms: int, params: ModelParams) -> dict[str, dict[str, float]]: ...

    def top_actors_at(
        self, now_ms: int, params: ModelParams, limit: int
    ) -> list[tuple[str, float]]: ...

    def engagers_at(self, now_ms: int, params: ModelParams) -> int: ...

    def topics_at(self, now_ms: int, params: ModelParams) -> tuple[float, dict[str, float]]: ...


class UserSignals:
    """One target user's decayed signals; mutable, compact, and serializable to JSON primitives.

    Use `apply_event` to update it and `app.scoring.model` to read a score out of it.
    `landmark_ms` is the reference time of the forward-decayed values, `t_ms` the latest event time.
    """

    __slots__ = (
        "actors",
        "burst",
        "epoch",
        "hll",
        "hll_prev",
        "landmark_ms",
        "sums",
        "t_ms",
        "tagged",
        "topics",
    )

    def __init__(self, landmark_ms: int, horizon_ms: float) -> None:
        self.landmark_ms = landmark_ms
        self.t_ms = landmark_ms
        # key: one-letter kind code + network, e.g. "ltwitter"; value: forward-decayed sum.
        self.sums: dict[str, float] = {}
        # actor id -> [forward-decayed count, forward-decayed contribution], repeat half-life.
        self.actors: dict[str, list[float]] = {}
        # unproven-engagement counter, decayed to t_ms with the burst half-life.
        self.burst = 0.0
        self.epoch = landmark_ms // _epoch_ms(horizon_ms)
        self.hll = bytearray(HLL_REGISTERS)
        self.hll_prev: bytearray | None = None
        # topic -> forward-decayed weighted engagement per kind [like, share, mention].
        self.topics: dict[str, list[float]] = {}
        # every topic-tagged engagement, per kind, including that of topics evicted since.
        self.tagged = [0.0, 0.0, 0.0]

    # -- reading -----------------------------------------------------------------------------

    def kind_totals(self, now_ms: int, params: ModelParams) -> dict[str, float]:
        """Decayed total per kind code at `now_ms` (no per-network detail): cheap raw pieces."""
        totals = {"l": 0.0, "s": 0.0, "m": 0.0}
        for key, g in self.sums.items():
            totals[key[0]] += g
        dt = now_ms - self.landmark_ms
        half_lives = params.half_lives
        for code, g in totals.items():
            if g:
                totals[code] = g * decay_factor(dt, half_lives[code])
        return totals

    def raw_at(self, now_ms: int, params: ModelParams) -> float:
        """Raw influence at `now_ms`: every decayed, weighted engagement summed."""
        return sum(self.kind_totals(now_ms, params).values())

    def components_at(self, now_ms: int, params: ModelParams) -> dict[str, dict[str, float]]:
        """`{kind: {network: decayed value}}` at `now_ms`; always has all three kinds."""
        dt = now_ms - self.landmark_ms
        factors = {code: decay_factor(dt, h) for code, h in params.half_lives.items()}
        out: dict[str, dict[str, float]] = {"like": {}, "share": {}, "mention": {}}
        for key, g in self.sums.items():
            out[_CODE_NAME[key[0]]][key[1:]] = g * factors[key[0]]
        return out

    def top_actors_at(
        self, now_ms: int, params: ModelParams, limit: int
    ) -> list[tuple[str, float]]:
        """The `limit` heaviest tracked actors with their decayed contributions at `now_ms`."""
        factor = decay_factor(now_ms - self.landmark_ms, params.repeat_half_life_ms)
        heaviest = sorted(self.actors.items(), key=lambda item: (-item[1][1], item[0]))[:limit]
        return [(actor, entry[1] * factor) for actor, entry in heaviest]

    def engagers_at(self, now_ms: int, params: ModelParams) -> int:
        """Estimated distinct engagers in the current and previous epoch (half a horizon each)."""
        now_epoch = now_ms // _epoch_ms(params.horizon_ms)
        live: list[bytearray] = []
        if self.epoch >= now_epoch - 1:
            live.append(self.hll)
            if self.hll_prev is not None and self.epoch - 1 >= now_epoch - 1:
                live.append(self.hll_prev)
        if not live:
            return 0
        registers = live[0] if len(live) == 1 else bytes(map(max, live[0], live[1]))
        return _hll_estimate(registers)

    def topics_at(self, now_ms: int, params: ModelParams) -> tuple[float, dict[str, float]]:
        """(decayed total of topic-tagged engagement, {topic: its decayed engagement}) at
        `now_ms`, topics in insertion order."""
        if not self.topics:
            return 0.0, {}
        dt = now_ms - self.landmark_ms
        factors = [decay_factor(dt, params.half_lives[code]) for code in _CODE_INDEX]
        values = {
            topic: g[0] * factors[0] + g[1] * factors[1] + g[2] * factors[2]
            for topic, g in self.topics.items()
        }
        tagged = self.tagged
        return tagged[0] * factors[0] + tagged[1] * factors[1] + tagged[2] * factors[2], values

    def copy(self) -> UserSignals:
        """An independent copy (apply_event mutates in place; what-if simulations need this)."""
        clone = UserSignals.__new__(UserSignals)
        clone.landmark_ms = self.landmark_ms
        clone.t_ms = self.t_ms
        clone.sums = dict(self.sums)
        clone.actors = {actor: list(entry) for actor, entry in self.actors.items()}
        clone.burst = self.burst
        clone.epoch = self.epoch
        clone.hll = bytearray(self.hll)
        clone.hll_prev = None if self.hll_prev is None else bytearray(self.hll_prev)
        clone.topics = {topic: list(entry) for topic, entry in self.topics.items()}
        clone.tagged = list(self.tagged)
        return clone

    # -- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form for the worker's table: short keys, every float exact.

        Floats are not rounded: the table is rewritten whenever a user changes, so rounding would
        make a user's state depend on where writes fell, and a crash and replay would move it.
        The result shares the state's dicts: serialize it, do not keep or change it.
        """
        out: dict[str, object] = {
            "L": self.landmark_ms,
            "t": self.t_ms,
            "s": self.sums,
            "e": self.epoch,
            "h": _encode_registers(self.hll),
        }
        if self.actors:
            out["a"] = self.actors
        if self.burst:
            out["b"] = self.burst
        if self.hll_prev is not None:
            out["p"] = _encode_registers(self.hll_prev)
        if self.topics:
            out["T"] = self.topics
            out["W"] = self.tagged
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> UserSignals:
        """Rebuild the state from `to_dict()` output (raises `ValueError` on a malformed value)."""
        try:
            state = cls.__new__(cls)
            state.landmark_ms = int(data["L"])  # type: ignore[call-overload]
            state.t_ms = int(data["t"])  # type: ignore[call-overload]
            sums = data["s"]
            if not isinstance(sums, dict):
                raise TypeError("s")
            state.sums = {str(k): float(v) for k, v in sums.items()}
            actors = data.get("a", {})
            if not isinstance(actors, dict):
                raise TypeError("a")
            state.actors = {str(a): [float(cw[0]), float(cw[1])] for a, cw in actors.items()}
            state.burst = float(data.get("b", 0.0))  # type: ignore[arg-type]
            state.epoch = int(data["e"])  # type: ignore[call-overload]
            state.hll = _decode_registers(data["h"])
            prev = data.get("p")
            state.hll_prev = None if prev is None else _decode_registers(prev)
            topics = data.get("T", {})
            if not isinstance(topics, dict):
                raise TypeError("T")
            state.topics = {str(t): _kind_triple(entry) for t, entry in topics.items()}
            state.tagged = _kind_triple(data.get("W", [0.0, 0.0, 0.0])) if topics else [0.0] * 3
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed UserSignals: {exc!r}") from exc
        return state

    def __repr__(self) -> str:
        return f"UserSignals({self.to_dict()!r})"


def apply_event(
    state: UserSignals | None,
    event: EngagementEvent,
    actor_score: float | None,
    params: ModelParams,
) -> UserSignals:
    """Fold one valid event into `state` (created if None) and return it; O(1), mutates in place.

    The event's weight is `w = base(kind) * actor_weight(actor_score) * repeat * burst`:
    `repeat = 1 / (1 + c)` where `c` is the actor's decayed count of earlier engagements with this
    target (so the n-th counts about 1/n), and, for unproven actors only,
    `burst = 1 / (1 + (v / burst_tolerance) ** 2)` where `v` is the decayed count of recent unproven
    engagements on this target (so a crowd of fresh accounts adds about as much as a few).
    """
    ts = event.ts_ms
    if state is None:
        state = UserSignals(ts, params.horizon_ms)
    landmark = state.landmark_ms
    code = KIND_CODE[event.kind]

    weight = params.base_weights[code] * actor_weight(actor_score, params)

    if is_unproven(actor_score, params):
        # Burst damping: a counter with a short half-life, kept decayed to t_ms.
        if ts >= state.t_ms:
            recent = state.burst * 2.0 ** (-(ts - state.t_ms) / params.burst_half_life_ms)
            crowd = recent / params.burst_tolerance
            weight /= 1.0 + crowd * crowd
            state.burst = recent + 1.0
        else:
            back = 2.0 ** (-(state.t_ms - ts) / params.burst_half_life_ms)
            crowd = state.burst / back / params.burst_tolerance
            weight /= 1.0 + crowd * crowd
            state.burst += back

    # Repeat damping and the bounded heavy-actor map (forward decay, repeat half-life).
    forward = 2.0 ** ((ts - landmark) / params.repeat_half_life_ms)
    actors = state.actors
    entry = actors.get(event.actor_id)
    if entry is not None:
        weight /= 1.0 + entry[0] / forward
        entry[0] += forward
        entry[1] += weight * forward
    else:
        if len(actors) >= params.top_actors:
            # Space-saving style: the lightest contributor makes room (the first of equals, in
            # insertion order). Its history is forgotten, which only ever favours actors too
            # light to matter. Found with C-level min/index: most events from a new actor reach a
            # full map, and a Python key function per entry was a third of apply_event.
            contributions = [entry[1] for entry in actors.values()]
            lightest = contributions.index(min(contributions))
            del actors[next(islice(actors, lightest, None))]
        actors[event.actor_id] = [forward, weight * forward]

    key = code + event.network
    sums = state.sums
    forward_weight = weight * 2.0 ** ((ts - landmark) / params.half_lives[code])
    sums[key] = sums.get(key, 0.0) + forward_weight
    if event.topics:
        _add_topics(state, event.topics, _CODE_INDEX[code], forward_weight, params.top_topics)

    _hll_add(state, event.actor_id, ts, params.horizon_ms)

    if ts > state.t_ms:
        state.t_ms = ts
        if ts - landmark > REBASE_AFTER_MS:
            _rebase(state, ts, params)
    return state


def _add_topics(
    state: UserSignals, topics: tuple[str, ...], slot: int, forward_weight: float, limit: int
) -> None:
    """Share one event's weight evenly among its topics, in the bounded topic map.

    A new topic finding the map full replaces the lightest one (the smallest total at the
    landmark, the first of equals), as the actor map does; `tagged` keeps the evicted weight, so
    the shares of the topics that stay are not inflated.
    """
    state.tagged[slot] += forward_weight
    part = forward_weight / len(topics)
    entries = state.topics
    for topic in topics:
        entry = entries.get(topic)
        if entry is None:
            if len(entries) >= limit:
                totals = [e[0] + e[1] + e[2] for e in entries.values()]
                del entries[next(islice(entries, totals.index(min(totals)), None))]
            entry = entries[topic] = [0.0, 0.0, 0.0]
        entry[slot] += part


def _kind_triple(value: object) -> list[float]:
    """A stored [like, share, mention] triple."""
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError("a topic entry is [like, share, mention]")
    return [float(value[0]), float(value[1]), float(value[2])]


def _rebase(state: UserSignals, landmark_ms: int, params: ModelParams) -> None:
    """Move the landmark to `landmark_ms`, rescaling entries and dropping decayed-out ones."""
    dt = landmark_ms - state.landmark_ms
    factors = {code: decay_factor(dt, h) for code, h in params.half_lives.items()}
    sums: dict[str, float] = {}
    for key, g in state.sums.items():
        value = g * factors[key[0]]
        if value >= PRUNE_BELOW:
            sums[key] = value
    state.sums = sums
    factor = 2.0 ** (-dt / params.repeat_half_life_ms)
    actors: dict[str, list[float]] = {}
    for actor, (count, contribution) in state.actors.items():
        count *= factor
        contribution *= factor
        if count >= 0.01 or contribution >= PRUNE_BELOW:
            actors[actor] = [count, contribution]
    state.actors = actors
    if state.topics:
        kinds = [factors[code] for code in _CODE_INDEX]
        topics: dict[str, list[float]] = {}
        for topic, entry in state.topics.items():
            scaled = [entry[0] * kinds[0], entry[1] * kinds[1], entry[2] * kinds[2]]
            if scaled[0] + scaled[1] + scaled[2] >= PRUNE_BELOW:
                topics[topic] = scaled
        state.topics = topics
        tagged = state.tagged
        state.tagged = (
            [tagged[0] * kinds[0], tagged[1] * kinds[1], tagged[2] * kinds[2]]
            if topics
            else [0.0, 0.0, 0.0]
        )
    state.landmark_ms = landmark_ms


def _epoch_ms(horizon_ms: float) -> int:
    return int(horizon_ms) // 2 or 1


def _hll_add(state: UserSignals, actor_id: str, ts: int, horizon_ms: float) -> None:
    epoch = ts // _epoch_ms(horizon_ms)
    if epoch > state.epoch:
        state.hll_prev = state.hll if epoch == state.epoch + 1 else None
        state.hll = bytearray(HLL_REGISTERS)
        state.epoch = epoch
        registers = state.hll
    elif epoch == state.epoch:
        registers = state.hll
    else:
        # Late events (previous epoch or older) all count toward the previous epoch.
        if state.hll_prev is None:
            state.hll_prev = bytearray(HLL_REGISTERS)
        registers = state.hll_prev
    # A stable hash (Python's str hash is salted per process and would break restored state).
    h = int.from_bytes(blake2b(actor_id.encode(), digest_size=8).digest(), "little")
    index = h & (HLL_REGISTERS - 1)
    rest = h >> 6  # 58 bits left
    rank = 59 - rest.bit_length()
    if rank > registers[index]:
        registers[index] = rank


def _hll_estimate(registers: bytes | bytearray) -> int:
    m = len(registers)
    zeros = registers.count(0)
    if zeros == m:
        return 0
    estimate = _HLL_ALPHA * m * m / sum(map(_INV_POW2.__getitem__, registers))
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)  # linear counting: exact enough for small audiences
    return round(estimate)


def _encode_registers(registers: bytearray) -> str | list[int]:
    nonzero = HLL_REGISTERS - registers.count(0)
    if nonzero <= _HLL_SPARSE_MAX:
        return [i * 64 + r for i, r in enumerate(registers) if r]
    return registers.translate(_ENCODE).decode("ascii")


def _decode_registers(value: object) -> bytearray:
    if isinstance(value, str):
        if len(value) != HLL_REGISTERS:
            raise ValueError("bad register string")
        return bytearray(value.encode("ascii").translate(_DECODE))
    if isinstance(value, list):
        registers = bytearray(HLL_REGISTERS)
        for item in value:
            registers[int(item) // 64] = int(item) % 64
        return registers
    raise TypeError("registers")
