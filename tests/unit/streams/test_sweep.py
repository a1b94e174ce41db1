"""The decay sweep: what is due in the owned partitions is re-scored from the live state."""

from __future__ import annotations

from typing import Any

from app.scoring.curve import DEFAULT_CURVE
from app.scoring.params import ModelParams
from app.store.due import DueIndex
from app.store.writer import Applied
from streams.state import StateCache
from streams.sweep import DecaySweep
from tests.support.fake_redis import FakeRedis
from tests.support.scoring import DAY, T0, event, fold
from tests.support.table import RecordingTable


class RecordingWriter:
    """Stands in for the FeedProducer the sweep writes through."""

    def __init__(self) -> None:
        self.cards: list[Any] = []
        self.causes: list[str] = []
        self.fences: dict[str, int] = {}

    async def write(
        self, cards: list[Any], cause: str, fences: dict[str, int] | None = None
    ) -> Applied:
        self.cards.extend(cards)
        self.causes.append(cause)
        self.fences.update(fences or {})
        return Applied(count=len(cards))


async def test_due_users_of_owned_partitions_are_rescored_in_chunks() -> None:
    params = ModelParams()
    states = StateCache(RecordingTable(), capacity=100)
    states.assign([0, 1], 4)
    for user, partition in (("a", 0), ("b", 0), ("c", 0), ("d", 1)):
        state = states.get(user, partition)
        state.signals = fold([event(target=user)], params)
        states.mark_changed([user])  # changed, not flushed: the sweep must see it anyway
    due = DueIndex(FakeRedis(), "p")  # type: ignore[arg-type]
    await due.schedule([(0, "a", T0), (0, "b", T0), (0, "c", T0 + 2 * DAY), (1, "d", T0)])
    writer = RecordingWriter()
    sweep = DecaySweep(
        states=states,
        feed=writer,  # type: ignore[arg-type]
        due=due,
        params=params,
        curve=lambda: DEFAULT_CURVE,
        batch_users=1,
        clock=lambda: (T0 + DAY) / 1000,
    )

    assert await sweep.run_once([0]) == 2
    assert sorted(card.user_id for card in writer.cards) == ["a", "b"]
    assert all(card.updated_at_ms == T0 + DAY for card in writer.cards)
    assert set(writer.causes) == {"decay"}  # the feed records say why the score moved
    assert writer.fences == {"a": 4, "b": 4}  # the generation of their partition's assignment
    # each was rescheduled at its next visible change, after now
    assert await due.due(0, now_ms=T0 + DAY, limit=10) == []


async def test_a_due_user_without_state_leaves_the_schedule() -> None:
    states = StateCache(RecordingTable(), capacity=10)
    due = DueIndex(FakeRedis(), "p")  # type: ignore[arg-type]
    await due.schedule([(2, "ghost", T0)])
    writer = RecordingWriter()
    sweep = DecaySweep(
        states=states,
        feed=writer,  # type: ignore[arg-type]
        due=due,
        params=ModelParams(),
        curve=lambda: DEFAULT_CURVE,
        batch_users=10,
        clock=lambda: T0 / 1000,
    )
    assert await sweep.run_once([2]) == 0
    assert writer.cards == []
    assert await due.due(2, now_ms=T0 * 2, limit=10) == []
    assert len(states) == 0  # peeked, not cached
