from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

class Params(Protocol):
    """What the kernel reads of `app.scoring.params.ModelParams`."""

    @property
    def like_half_life_ms(self) -> float: ...
    @property
    def share_half_life_ms(self) -> float: ...
    @property
    def mention_half_life_ms(self) -> float: ...
    @property
    def like_weight(self) -> float: ...
    @property
    def share_weight(self) -> float: ...
    @property
    def mention_weight(self) -> float: ...
    @property
    def actor_weight_floor(self) -> float: ...
    @property
    def actor_weight_pivot(self) -> float: ...
    @property
    def actor_weight_exponent(self) -> float: ...
    @property
    def actor_weight_cap(self) -> float: ...
    @property
    def repeat_half_life_ms(self) -> float: ...
    @property
    def top_actors(self) -> int: ...
    @property
    def top_topics(self) -> int: ...
    @property
    def influential_share(self) -> float: ...
    @property
    def burst_half_life_ms(self) -> float: ...
    @property
    def burst_tolerance(self) -> float: ...
    @property
    def trusted_actor_score(self) -> float: ...
    @property
    def horizon_ms(self) -> float: ...
    @property
    def celebrity_score(self) -> float: ...
    @property
    def style_dominance(self) -> float: ...
    @property
    def specialist_share(self) -> float: ...

Refusal = tuple[int, str, int | None, bytes | None]
"""(message number, reason, envelope index, refused JSON or None for the whole message)."""

Part = tuple[list[Any], list[Refusal], list[tuple[int, int | None, Any]], dict[str, int], list[int]]
"""(accepted, refused, rekeyed (message, index, event), events per topic, deferred messages)."""

class Triager:
    """Validates the record values of a batch against the worker's topics and rules."""

    def __init__(
        self,
        *,
        kinds: Iterable[str],
        kinds_by_topic: Mapping[str, str],
        partitions: int,
        horizon_ms: int,
        max_future_ms: int,
        max_id_len: int,
        event_type: type,
        position_type: type,
        accepted_type: type,
    ) -> None: ...
    def triage(
        self,
        batch: Iterable[Any],
        now_ms: int,
        max_events: int | None,
        defer: Callable[[int, Any], int],
    ) -> Iterator[Part]: ...

class Signals:
    """One user's decayed signals: `app.scoring.signals.UserSignals`, compiled."""

    def kind_totals(self, now_ms: int, params: Params) -> dict[str, float]: ...
    def raw_at(self, now_ms: int, params: Params) -> float: ...
    def components_at(self, now_ms: int, params: Params) -> dict[str, dict[str, float]]: ...
    def top_actors_at(self, now_ms: int, params: Params, limit: int) -> list[tuple[str, float]]: ...
    def engagers_at(self, now_ms: int, params: Params) -> int: ...
    def topics_at(self, now_ms: int, params: Params) -> tuple[float, dict[str, float]]: ...
    def to_json(self) -> bytes:
        """The table form (`UserSignals.to_dict()`'s, key for key) as JSON bytes."""
    @staticmethod
    def from_dict(data: Mapping[str, object]) -> Signals: ...

class Scorer:
    """Scores users on one curve: `score_card` and `next_refresh_ms`, compiled."""

    def __init__(
        self,
        *,
        scores: list[float],
        topic_curves: dict[str, list[float]],
        x0: float,
        step: float,
        raw_min: float,
        raw_max: float,
        tail: float,
        min_score: float,
        max_score: float,
        curve_version: int,
        model_version: str,
        explain_top_actors: int,
        max_refresh_ms: int,
        card_type: type,
        contribution_type: type,
        topic_type: type,
    ) -> None: ...
    def score(
        self, users: list[tuple[str, Signals]], now_ms: int, params: Params
    ) -> list[tuple[Any, int]]: ...
    def standings(
        self,
        actors: list[str],
        stored_raws: Mapping[str, float | None],
        unscored: Mapping[str, Any],
        now_ms: int,
        params: Params,
    ) -> dict[str, float | None]:
        """`plan.standings` for states holding kernel `Signals`, graded on this curve."""

def fold(
    fresh: list[Any],
    first_sightings: Sequence[bool],
    states: dict[str, Any],
    standing: dict[str, float | None],
    params: Params,
) -> None: ...
def card_rows(rows: list[tuple[Any, int, str, str, int, int]]) -> bytes:
    """write_cards.lua's cards argument: one JSON row per (ScoreCard, fence, day, first kept
    day, band low, band high)."""
