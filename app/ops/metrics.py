"""Prometheus metrics for `/metrics`, built from the cached snapshot on each scrape.

A custom collector rather than gauges set by the poller: a scrape renders exactly one snapshot
(no half-updated mix of two polls) and never calls Kafka. Lag metric names follow
kafka_exporter's, which the alert rules already use; the rest are documented in docs/ops.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.ops.tracker import Snapshot


class OpsMetricsCollector(Collector):
    """Turns the latest snapshot into metric families."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Metric families for the current snapshot (no I/O)."""
        snap = self._snapshot()
        group = snap.group
        part_labels = ["consumergroup", "topic", "partition"]
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag", "Messages behind per partition", labels=part_labels
        )
        lag_seconds = GaugeMetricFamily(
            "kafka_consumergroup_lag_seconds",
            "Estimated seconds behind per partition",
            labels=part_labels,
        )
        current = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "Committed offset of the group per partition",
            labels=part_labels,
        )
        end = GaugeMetricFamily(
            "kafka_topic_partition_current_offset",
            "End offset (next offset to be written) per partition",
            labels=["topic", "partition"],
        )
        oldest = GaugeMetricFamily(
            "kafka_topic_partition_oldest_offset",
            "Log start offset per partition",
            labels=["topic", "partition"],
        )
        part_status = GaugeMetricFamily(
            "kafka_consumergroup_partition_status",
            "Burrow status per partition: 1 OK, 2 WARN, 3 ERR, 4 STOP, 5 STALL, 6 REWIND",
            labels=part_labels,
        )
        for row in snap.partitions:
            if row.partition < 0:
                continue  # a missing topic has no partitions to label
            values = [group, row.topic, str(row.partition)]
            part_status.add_metric(values, row.status.code)
            if row.lag is not None:
                lag.add_metric(values, row.lag)
            if row.lag_seconds is not None:
                lag_seconds.add_metric(values, row.lag_seconds)
            if row.committed is not None and row.error is None:
                current.add_metric(values, row.committed)
            if row.end is not None and row.error is None:
                end.add_metric(values[1:], row.end)
            if row.log_start is not None and row.error is None:
                oldest.add_metric(values[1:], row.log_start)
        yield from (lag, lag_seconds, current, end, oldest, part_status)

        lag_sum = GaugeMetricFamily(
            "kafka_consumergroup_lag_sum",
            "Messages behind per topic",
            labels=["consumergroup", "topic"],
        )
        consume = GaugeMetricFamily(
            "clout_ops_topic_consume_rate",
            "Messages committed per second per topic",
            labels=["consumergroup", "topic"],
        )
        produce = GaugeMetricFamily(
            "clout_ops_topic_produce_rate",
            "Messages produced per second per topic",
            labels=["topic"],
        )
        readable = {row.topic for row in snap.partitions if row.lag is not None}
        for topic in snap.topics:
            if topic.topic in readable:  # a topic none of whose lags is known has no sum
                lag_sum.add_metric([group, topic.topic], topic.lag)
            if topic.consume_rate is not None:
                consume.add_metric([group, topic.topic], topic.consume_rate)
            if topic.produce_rate is not None:
                produce.add_metric([topic.topic], topic.produce_rate)
        yield from (lag_sum, consume, produce)

        yield _gauge(
            "kafka_consumergroup_status",
            "Burrow status of the group: 1 OK, 2 WARN, 3 ERR",
            snap.status.code,
            group,
        )
        yield _gauge("kafka_consumergroup_members", "Live group members", len(snap.members), group)
        yield _gauge(
            "kafka_consumergroup_lag_seconds_max",
            "Largest estimated lag in seconds over the group's partitions",
            snap.max_lag_seconds,
            group,
        )
        yield _gauge(
            "clout_pipeline_events_per_second",
            "Events processed per second (consume rate over the input topics)",
            snap.events_per_s,
        )
        yield _gauge(
            "clout_pipeline_dead_letters_per_minute",
            "Messages written to the dead-letter topic per minute",
            snap.dead_letters_per_min,
        )
        yield _gauge("clout_ops_kafka_up", "1 if the latest poll reached Kafka", int(snap.kafka_up))
        if snap.last_success_ms is not None:
            yield _gauge(
                "clout_ops_snapshot_age_seconds",
                "Seconds since the last successful Kafka poll",
                max(0.0, time.time() - snap.last_success_ms / 1000.0),
            )
        redis = snap.redis
        if redis is not None:
            yield _gauge(
                "clout_redis_up", "1 if Redis answered the last probe", int(redis.reachable)
            )
            yield _gauge(
                "clout_redis_used_memory_bytes", "Redis used_memory", redis.used_memory_bytes
            )
            yield _gauge(
                "clout_score_last_write_age_seconds",
                "Seconds since the score writer last wrote to Redis (at the last probe)",
                redis.last_write_age_s,
            )
            yield _gauge(
                "clout_topics_live",
                "Topics a card listed within the retention ({topics} members)",
                redis.live_topics,
            )
            yield _gauge(
                "clout_topic_memory_bytes",
                "Memory of the topic keys: boards, topic curves and {topics} (extrapolated "
                "beyond the topics one probe measures)",
                redis.topic_memory_bytes,
            )
            fitted_at_ms = (redis.last_refit or {}).get("fitted_at_ms")
            if isinstance(fitted_at_ms, int | float):  # no sample before the first refit
                yield _gauge(
                    "clout_curve_last_refit_age_seconds",
                    "Seconds since the live score curve was last refitted (computed at scrape)",
                    max(0.0, time.time() - fitted_at_ms / 1000.0),
                )


def _gauge(
    name: str, documentation: str, value: float | None, group: str | None = None
) -> GaugeMetricFamily:
    """A single-sample gauge (no sample at all when the value is unknown)."""
    labels = [] if group is None else ["consumergroup"]
    family = GaugeMetricFamily(name, documentation, labels=labels)
    if value is not None:
        family.add_metric([] if group is None else [group], value)
    return family


def ops_registry(snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    """A registry holding only the ops collector (one per app, so tests never collide)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsMetricsCollector(snapshot))
    return registry
