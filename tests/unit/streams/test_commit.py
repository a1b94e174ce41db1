"""The commit protocol's order, and what a refused or failed step leaves undone."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from faust.types import TP

from streams.commit import Checkpoint

LIKES, CHANGELOG = TP("t.likes", 1), TP("t-signals-changelog", 1)


class Recorder:
    """The worker consumer and a fenced table, recording each step in `steps`."""

    def __init__(
        self, accepted: bool = True, state_fails: bool = False, scores_fail: bool = False
    ) -> None:
        self.steps: list[str] = []
        self.accepted = accepted
        self.state_fails = state_fails
        self.scores_fail = scores_fail
        self.acknowledged: dict[TP, int] = {}
        self.confirmed: dict[TP, int] = {}

    async def settle_scores(self) -> None:
        self.steps.append("scores")
        if self.scores_fail:
            raise ConnectionError("Redis refused the score write")

    async def flush_state(self) -> None:
        self.steps.append("state")
        if self.state_fails:
            raise ConnectionError("the changelog batch was not delivered")
        self.acknowledged[CHANGELOG] = 41

    async def flush_producer(self) -> None:
        self.steps.append("produce")

    async def commit_assigned(self, offsets: Mapping[TP, int]) -> bool:
        self.steps.append("commit")
        self.acknowledged[CHANGELOG] = 42  # delivered while the commit was on its way
        return self.accepted

    def unconfirmed_offsets(self) -> dict[TP, int]:
        return dict(self.acknowledged)

    def confirm(self, offsets: dict[TP, int]) -> None:
        self.steps.append("position")
        self.confirmed.update(offsets)


def checkpoint(recorder: Recorder) -> Checkpoint:
    return Checkpoint(recorder.settle_scores, recorder.flush_state, [recorder])


async def test_scores_then_state_then_producer_then_offsets_then_the_changelog_position() -> None:
    recorder = Recorder()
    assert await checkpoint(recorder).commit(recorder, {LIKES: 10}) is True
    assert recorder.steps == ["scores", "state", "produce", "commit", "position"]
    assert recorder.confirmed == {CHANGELOG: 41}  # what the broker had before the commit left


async def test_a_refused_commit_moves_no_changelog_position() -> None:
    recorder = Recorder(accepted=False)  # a zombie: the group has moved on
    assert await checkpoint(recorder).commit(recorder, {LIKES: 10}) is False
    assert recorder.steps == ["scores", "state", "produce", "commit"]
    assert recorder.confirmed == {}


async def test_a_failed_state_flush_commits_nothing() -> None:
    recorder = Recorder(state_fails=True)
    with pytest.raises(ConnectionError):
        await checkpoint(recorder).commit(recorder, {LIKES: 10})
    assert recorder.steps == ["scores", "state"]


async def test_a_failed_score_write_commits_nothing() -> None:
    recorder = Recorder(scores_fail=True)
    with pytest.raises(ConnectionError):
        await checkpoint(recorder).commit(recorder, {LIKES: 10})
    assert recorder.steps == ["scores"]
