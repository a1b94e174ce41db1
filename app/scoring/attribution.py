"""Why a score moved: a day's snapshot of what the score was made of, and the split of a change.

The worker stores a `Snapshot` of the last card of every UTC day beside the daily history
(docs/redis.md), so explaining a window never needs the event log. `attribute(then, now, ...)`
splits the change in raw between that snapshot and a newer card into parts that add up to it:

* **decay** of what was there: each (kind, network) component of `then`, decayed to `now` with
  its kind's half-life, minus its value then (exact: decay is exponential per kind);
* **new engagement**, by kind and network: what the component is now beyond that decayed value.

Engagement only ever adds to a component, so a cell whose value now is not above the decayed
value by more than the rounding of the components it sums (`COMPONENT_ROUNDING` each, so 1e-6
for a cell named on both sides) had no new engagement: its whole
change is decay (this includes the model's pruning of values decayed below 1e-4). Per cell,
`decay + new == now - then`, so the parts sum to the change in raw.

Top actors gained and lost are a second look at the same movement, not a further part: actor
contributions decay on the repeat half-life and only the heaviest few are on a card, so they
are listed beside the sum and never added to it (that would count the same engagement twice).

Points are split separately: `refit_points` is the raw of `then` graded on the curve of `now`
minus the score shown then (the same raw on the old and the new curve), `movement_points` the
rest; both are differences of displayed one-decimal scores, so they add up to the change shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.scoring.card import ActorContribution, ScoreCard
from app.scoring.curve import Curve
from app.scoring.decay import decay_factor
from app.scoring.events import Kind
from app.scoring.model import score_from_raw
from app.scoring.params import KIND_CODE, ModelParams

SNAPSHOT_NETWORKS_PER_KIND = 4
"""Networks a snapshot names per kind (the largest); the rest are summed under `OTHER_NETWORKS`."""

OTHER_NETWORKS = "*"
"""The snapshot's component key for a kind's remaining networks (never a valid network slug)."""

COMPONENT_ROUNDING = 5e-7
"""The most a card's component is off its exact value: components are rounded to 6 decimals."""

_KINDS = tuple(kind.value for kind in Kind)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a score was made of at `updated_at_ms`: one day's entry beside the daily history.

    `components[kind][network]` sum to `raw`; a kind's networks beyond the largest
    `SNAPSHOT_NETWORKS_PER_KIND` are summed under `OTHER_NETWORKS` (their decay is still exact,
    as it depends only on the kind).
    """

    updated_at_ms: int
    score: float
    raw: float
    curve_version: int
    components: dict[str, dict[str, float]]
    top_actors: tuple[ActorContribution, ...]
    summed: dict[str, int] = dataclasses.field(default_factory=dict)
    """Per kind, how many networks `OTHER_NETWORKS` sums (each rounded: the sum's precision)."""

    @classmethod
    def from_dict(cls, obj: Any) -> Snapshot:
        """Read the stored form back (docs/redis.md; kernel/src/cards.rs writes it); ValueError
        if it is not one."""
        try:
            return cls(
                updated_at_ms=int(obj["t"]),
                score=float(obj["s"]),
                raw=float(obj["r"]),
                curve_version=int(obj["v"]),
                components={
                    str(kind): {str(net): float(v) for net, v in nets.items()}
                    for kind, nets in obj["c"].items()
                },
                top_actors=tuple(ActorContribution(str(a), float(c)) for a, c in obj["a"]),
                summed={str(kind): int(n) for kind, n in obj.get("n", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a score snapshot: {exc}") from exc


def snapshot_of(card: ScoreCard) -> Snapshot:
    """The bounded snapshot of a card: its largest networks per kind named, the rest summed."""
    components: dict[str, dict[str, float]] = {}
    summed: dict[str, int] = {}
    for kind, networks in card.components.items():
        ranked = sorted(networks.items(), key=lambda item: (-item[1], item[0]))
        kept = dict(ranked[:SNAPSHOT_NETWORKS_PER_KIND])
        rest = ranked[SNAPSHOT_NETWORKS_PER_KIND:]
        if rest:
            other = 0.0
            for _, value in rest:  # left to right, as the kernel sums (not Python 3.12's sum)
                other += value
            kept[OTHER_NETWORKS] = other
            summed[kind] = len(rest)
        components[kind] = kept
    return Snapshot(
        updated_at_ms=card.updated_at_ms,
        score=card.score,
        raw=card.raw,
        curve_version=card.curve_version,
        components=components,
        top_actors=card.top_actors,
        summed=summed,
    )


@dataclass(frozen=True, slots=True)
class CellChange:
    """One (kind, network) component over the window: `decay + new == now - then`."""

    kind: str
    network: str  # OTHER_NETWORKS: the kind's networks the snapshot did not name
    then: float
    now: float
    decay: float
    new: float


@dataclass(frozen=True, slots=True)
class ActorMove:
    """A top actor gained, lost or moved: contributions then (as shown then) and now."""

    actor_id: str
    then: float | None  # None: not among the top actors then (gained)
    now: float | None  # None: not among the top actors now (lost)
    change: float  # now minus then decayed to now (repeat half-life); a missing side counts 0


@dataclass(frozen=True, slots=True)
class Attribution:
    """A window's score movement split into parts (module docstring)."""

    then: Snapshot
    now: Snapshot
    raw_change: float  # == decay + new_engagement
    decay: float
    new_engagement: float
    cells: tuple[CellChange, ...]  # largest |now - then| first
    movers: tuple[ActorMove, ...]  # largest |change| first
    refit_points: float  # then's raw on now's curve, minus the score shown then
    movement_points: float  # the rest: now.score - then.score - refit_points

    def to_dict(self) -> dict[str, Any]:
        """The public JSON form (the API's `ChangesOut` without user and window text)."""
        then, now = self.then, self.now
        return {
            "from_day": datetime.fromtimestamp(then.updated_at_ms // 1000, UTC).date().isoformat(),
            "from_ms": then.updated_at_ms,
            "to_ms": now.updated_at_ms,
            "score_then": then.score,
            "score_now": now.score,
            "refit_points": self.refit_points,
            "movement_points": self.movement_points,
            "raw_then": then.raw,
            "raw_now": now.raw,
            "raw_change": self.raw_change,
            "decay": self.decay,
            "new_engagement": self.new_engagement,
            "curve_version_then": then.curve_version,
            "curve_version_now": now.curve_version,
            "driver": self.driver(),
            "cells": [dataclasses.asdict(c) for c in self.cells],
            "movers": [dataclasses.asdict(m) for m in self.movers],
        }

    def driver(self) -> str:
        """One line saying what drove the movement (for summaries and the page)."""
        line = _describe(self.cells)
        if self.refit_points:
            line += f", and {REFIT} ({self.refit_points:+.1f} points)"
        return line


REFIT = "a curve refit"


def _describe(cells: Sequence[CellChange]) -> str:
    """The largest new engagement of the cells, or decay when there was none."""
    gained = [c for c in cells if c.new > 0.0]
    if not gained:
        return "decay while quiet"
    top = max(gained, key=lambda c: (c.new, c.kind, c.network))
    where = "other networks" if top.network == OTHER_NETWORKS else top.network
    amount = f"{top.new:+.1f}" if top.new >= 1.0 else f"{top.new:+.2g}"
    return f"driven by {amount} raw of new {top.kind}s on {where}"


def raw_driver(
    then: Snapshot | None, now: ScoreCard, params: ModelParams, *, refit: bool = False
) -> str:
    """The one line of `Attribution.driver` without grading on curves (the score feed's):
    `then` None is a first score, all of it new; `refit` says a refit made the card."""
    if then is None:
        then = Snapshot(now.updated_at_ms, now.score, 0.0, now.curve_version, {}, ())
    elapsed = max(0, now.updated_at_ms - then.updated_at_ms)
    line = _describe(_cells(then, now.components, elapsed, params))
    return f"{line}, and {REFIT}" if refit else line


def attribute(then: Snapshot, now: ScoreCard, params: ModelParams, curve: Curve) -> Attribution:
    """Split the movement from the snapshot `then` to the card `now` (module docstring).

    `curve` must be the curve that graded `now` (same version). ValueError if `now` is older
    than `then` or graded on another curve.
    """
    if curve.version != now.curve_version:
        raise ValueError(
            f"the card was graded on curve {now.curve_version}, not on {curve.version}"
        )
    elapsed = now.updated_at_ms - then.updated_at_ms
    if elapsed < 0:
        raise ValueError("the card is older than the snapshot")
    cells = tuple(
        sorted(
            _cells(then, now.components, elapsed, params),
            key=lambda c: (-abs(c.now - c.then), c.kind, c.network),
        )
    )
    decay = sum(c.decay for c in cells)
    new = sum(c.new for c in cells)
    # On the curve that graded then, the raw of then is the score shown then.
    same_curve = then.curve_version == now.curve_version
    regraded = then.score if same_curve else score_from_raw(then.raw, curve)
    return Attribution(
        then=then,
        now=snapshot_of(now),
        raw_change=now.raw - then.raw,
        decay=decay,
        new_engagement=new,
        cells=cells,
        movers=_movers(then.top_actors, now.top_actors, elapsed, params),
        refit_points=round(regraded - then.score, 1),
        movement_points=round(now.score - regraded, 1),
    )


def _cells(
    then: Snapshot,
    now: Mapping[str, Mapping[str, float]],
    elapsed_ms: int,
    params: ModelParams,
) -> list[CellChange]:
    """Every (kind, network) cell present then or now, grouped as the snapshot named them."""
    out: list[CellChange] = []
    for kind in _KINDS:
        before = then.components.get(kind, {})
        after: dict[str, float] = {}
        # How many rounded card components each side of a cell sums.
        parts_then = {network: 1 for network in before}
        if OTHER_NETWORKS in before:
            parts_then[OTHER_NETWORKS] = then.summed.get(kind, 1)
        parts_now: dict[str, int] = {}
        # Networks the snapshot summed are compared as one group with everything it did not
        # name; when it named all of the kind's networks, an unnamed one is new and stands alone.
        grouped = OTHER_NETWORKS in before
        for network, value in now.get(kind, {}).items():
            key = OTHER_NETWORKS if grouped and network not in before else network
            after[key] = after.get(key, 0.0) + value
            parts_now[key] = parts_now.get(key, 0) + 1
        factor = decay_factor(elapsed_ms, params.half_lives[KIND_CODE[Kind(kind)]])
        for network in sorted(before.keys() | after.keys()):
            value_then, value_now = before.get(network, 0.0), after.get(network, 0.0)
            grown = value_now - value_then * factor
            rounding = COMPONENT_ROUNDING * (parts_then.get(network, 0) + parts_now.get(network, 0))
            new = grown if grown > rounding else 0.0
            out.append(
                CellChange(
                    kind, network, value_then, value_now, (value_now - value_then) - new, new
                )
            )
    return out


def _movers(
    then: tuple[ActorContribution, ...],
    now: tuple[ActorContribution, ...],
    elapsed_ms: int,
    params: ModelParams,
) -> tuple[ActorMove, ...]:
    """Top actors gained, lost or moved, largest change first (see the module docstring)."""
    factor = decay_factor(elapsed_ms, params.repeat_half_life_ms)
    before = {a.actor_id: a.contribution for a in then}
    after = {a.actor_id: a.contribution for a in now}
    moves = [
        ActorMove(
            actor,
            before.get(actor),
            after.get(actor),
            after.get(actor, 0.0) - before.get(actor, 0.0) * factor,
        )
        for actor in before.keys() | after.keys()
    ]
    return tuple(sorted(moves, key=lambda m: (-abs(m.change), m.actor_id)))
