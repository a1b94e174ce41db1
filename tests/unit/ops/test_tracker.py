"""The tracker folds made-up polls into snapshots: figures, statuses over time, history."""

from __future__ import annotations

import orjson
import pytest

from app.ops.status import NOT_CATCHING_UP, STEADY, Status
from app.ops.tracker import LagTracker, MemberInfo, Observation, PartitionObservation, Snapshot
from app.store.health import RedisHealth

MEMBER = MemberInfo("worker-1-abc", "worker-1", "/10.0.0.1", 1)


def tracker(**overrides: object) -> LagTracker:
    options: dict[str, object] = {
        "group": "g",
        "input_topics": ("in",),
        "dead_letter_topic": "dlq",
        "poll_interval_s": 10.0,
        "window_s": 30.0,
        "rate_window_s": 20.0,
        "history_s": 120.0,
    }
    options.update(overrides)
    return LagTracker(**options)  # type: ignore[arg-type]


def poll(
    ts_s: float,
    *partitions: PartitionObservation,
    members: tuple[MemberInfo, ...] = (),
    dlq: int | None = None,
    assignments_known: bool = True,
) -> Observation:
    return Observation(
        ts_ms=int(ts_s * 1000),
        group="g",
        group_state="Stable" if members else "Empty",
        members=members,
        partitions=partitions,
        produced_ends={} if dlq is None else {"dlq": dlq},
        assignments_known=assignments_known,
    )


def part(
    end: int, committed: int | None, *, p: int = 0, topic: str = "in", owner: str | None = None
) -> PartitionObservation:
    return PartitionObservation(topic, p, log_start=0, end=end, committed=committed, owner=owner)


def test_lag_rates_lag_seconds_and_pipeline_figures() -> None:
    t = tracker()
    t.observe(poll(0, part(100, 100)))
    t.observe(poll(10, part(200, 150)))
    snap = t.observe(poll(20, part(300, 250)))
    (row,) = snap.partitions
    assert row.lag == 50
    assert row.consume_rate == pytest.approx(7.5)  # (250 - 100) / 20 s
    assert row.produce_rate == pytest.approx(10.0)  # (300 - 100) / 20 s
    # the end offset was 200 at t=10s and 300 at t=20s: it passed 250 at t=15s
    assert row.lag_seconds == pytest.approx(5.0)
    assert row.lag_seconds_method == "interpolated"
    assert row.eta_s is None  # consuming slower than producing: not catching up
    assert snap.total_lag == 50
    assert snap.events_per_s == pytest.approx(7.5)
    assert snap.max_lag_seconds == pytest.approx(5.0)


def test_catching_up_has_an_eta() -> None:
    t = tracker()
    t.observe(poll(0, part(1000, 0)))
    snap = t.observe(poll(10, part(1000, 200)))
    assert snap.partitions[0].eta_s == pytest.approx(40.0)  # 800 left at 20/s
    assert snap.eta_s == pytest.approx(40.0)


def test_a_stopped_consumer_turns_stop_one_window_after_the_backlog_appears() -> None:
    t = tracker()
    statuses = []
    # caught up at t=0; 20 messages arrive by t=10; nobody consumes (no members)
    for ts, end in [(0, 100), (10, 120), (20, 120), (30, 120), (40, 120)]:
        snap = t.observe(poll(ts, part(end, 100)))
        statuses.append(snap.partitions[0].status)
    # OK while the window still holds the caught-up sample, STOP once it does not
    assert statuses == [Status.OK, Status.OK, Status.OK, Status.OK, Status.STOP]
    assert snap.status is Status.ERR
    assert snap.partitions[0].lag == 20
    assert snap.partitions[0].lag_seconds == pytest.approx(40.0)  # end left 100 right after t=0


def test_a_live_member_that_does_not_move_is_stall() -> None:
    t = tracker()
    for ts in (0, 10, 20, 30):
        snap = t.observe(poll(ts, part(500, 100, owner=MEMBER.member_id), members=(MEMBER,)))
    assert snap.partitions[0].status is Status.STALL
    assert snap.partitions[0].owner == MEMBER.member_id
    assert snap.status is Status.ERR


def test_undecodable_assignments_count_members_as_owners() -> None:
    t = tracker()
    for ts in (0, 10, 20, 30):
        snap = t.observe(poll(ts, part(500, 100), members=(MEMBER,), assignments_known=False))
    assert snap.partitions[0].status is Status.STALL


def test_a_quiet_topic_is_never_an_alarm() -> None:
    t = tracker()
    for ts in range(0, 600, 10):  # ten minutes without a message, consumer caught up
        snap = t.observe(poll(ts, part(42, 42)))
        assert snap.partitions[0].status is Status.OK
    # one message arrives; the consumer takes 20 s to commit it: still OK throughout
    for ts, committed in [(600, 42), (610, 42), (620, 43)]:
        snap = t.observe(poll(ts, part(43, committed)))
        assert snap.partitions[0].status is Status.OK
    # the lag of that message is measured from when it arrived, not from the last commit
    snap = t.observe(poll(630, part(44, 43)))
    assert snap.partitions[0].lag_seconds is not None
    assert snap.partitions[0].lag_seconds <= 10.0


def test_warming_up_until_the_window_is_full() -> None:
    t = tracker()
    flags = [t.observe(poll(ts, part(10, 10))).partitions[0].warming_up for ts in (0, 10, 20, 30)]
    assert flags == [True, True, True, False]


def test_an_error_on_one_partition_stays_on_that_row() -> None:
    t = tracker()
    t.observe(poll(0, part(100, 90, p=0), part(50, 50, p=1)))
    broken = PartitionObservation("in", 1, error="NotLeaderForPartitionError")
    snap = t.observe(poll(10, part(110, 100, p=0), broken))
    good, bad = snap.partitions
    assert (good.status, good.error, good.lag) == (Status.OK, None, 10)
    assert (bad.status, bad.error, bad.lag) == (Status.ERR, "NotLeaderForPartitionError", None)
    assert (bad.end, bad.committed) == (50, 50)  # last known offsets stay visible
    assert snap.total_lag == 10
    assert snap.status is Status.ERR
    # the next good poll clears it
    snap = t.observe(poll(20, part(120, 110, p=0), part(55, 55, p=1)))
    assert [row.status for row in snap.partitions] == [Status.OK, Status.OK]


def test_dead_letters_per_minute_and_topics() -> None:
    t = tracker()
    t.observe(poll(0, part(0, 0), part(0, 0, topic="other"), dlq=0))
    snap = t.observe(poll(10, part(10, 10), part(5, 0, topic="other"), dlq=30))
    assert snap.dead_letters_per_min == pytest.approx(180.0)
    assert snap.events_per_s == pytest.approx(1.0)  # only the input topic counts
    assert snap.consume_rate == pytest.approx(1.0)
    assert snap.produce_rate == pytest.approx(1.5)
    assert [(topic.topic, topic.lag) for topic in snap.topics] == [("in", 0), ("other", 5)]


def test_history_keeps_the_configured_span() -> None:
    t = tracker(history_s=60.0)
    for ts in range(0, 200, 10):
        t.observe(poll(ts, part(ts, 0)))
    points = t.history()
    assert points[0].ts_ms == 130_000
    assert points[-1].ts_ms == 190_000
    assert points[-1].total_lag == 190


def test_a_failed_poll_keeps_figures_and_flags_them() -> None:
    t = tracker()
    t.observe(poll(0, part(100, 90)))
    failed = t.observe_failure(5_000, "KafkaConnectionError: broker down")
    assert failed.status is Status.ERR
    assert failed.poll_error == "KafkaConnectionError: broker down"
    assert failed.kafka_up is False
    assert failed.total_lag == 10
    assert failed.last_success_ms == 0
    recovered = t.observe(poll(10, part(100, 100)))
    assert recovered.poll_error is None
    assert recovered.kafka_up is True


def test_partitions_that_disappear_are_dropped() -> None:
    t = tracker()
    t.observe(poll(0, part(1, 1, p=0), part(1, 1, p=1)))
    snap = t.observe(poll(10, part(1, 1, p=0)))
    assert [row.partition for row in snap.partitions] == [0]


def test_snapshot_document_is_plain_json() -> None:
    t = tracker()
    redis = RedisHealth(True, 1024, 1_000, 2.5)
    snap = t.observe(poll(0, part(10, 4, owner=MEMBER.member_id), members=(MEMBER,)), redis)
    doc = orjson.loads(orjson.dumps(snap.to_dict()))
    assert doc["status"] == "OK"
    assert doc["summary"]["total_lag"] == 6
    assert doc["summary"]["status_counts"]["OK"] == 1
    assert doc["partitions"][0]["owner"] == MEMBER.member_id
    assert doc["pipeline"]["redis"]["used_memory_bytes"] == 1024
    assert doc["members"][0]["client_id"] == "worker-1"
    assert doc["poll"]["kafka_up"] is True


def lag_series(t: LagTracker, lags: list[int], step_s: float = 10.0) -> Snapshot:
    """Polls `step_s` apart, 100 new messages each time, the commit `lag` behind the end."""
    snap = None
    for i, lag in enumerate(lags):
        end = 1000 + 100 * i
        snap = t.observe(
            poll(i * step_s, part(end, end - lag, owner=MEMBER.member_id), members=(MEMBER,))
        )
    assert snap is not None
    return snap


def test_lag_held_at_the_commit_interval_reads_steady() -> None:
    # A keeping-up worker: its lag rises between commits and drops at each one, with
    # consumption equal to production over the rate window (no ETA).
    snap = lag_series(tracker(), [50, 30, 50, 30, 50])
    doc = snap.to_dict()
    (row,) = doc["partitions"]
    assert (row["status"], row["eta_s"], row["lag"]) == ("OK", None, 50)
    assert row["catch_up"] == STEADY == "steady, lag = commit interval"
    assert doc["summary"]["catch_up"] == STEADY


def test_lag_that_grows_reads_not_catching_up() -> None:
    snap = lag_series(tracker(), [50, 100, 150, 200, 250])
    doc = snap.to_dict()
    (row,) = doc["partitions"]
    assert row["status"] == "WARN"
    assert row["catch_up"] == doc["summary"]["catch_up"] == NOT_CATCHING_UP


def test_catch_up_words_before_the_window_fills_and_when_caught_up() -> None:
    assert lag_series(tracker(), [50, 50]).to_dict()["summary"]["catch_up"] == "measuring"
    assert lag_series(tracker(), [0, 0, 0, 0]).to_dict()["summary"]["catch_up"] == "caught up"
    shrinking = lag_series(tracker(), [400, 200]).to_dict()["summary"]
    assert shrinking["catch_up"] is None  # the ETA is shown instead
    assert shrinking["eta_s"] == pytest.approx(10.0)
