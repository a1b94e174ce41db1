"""`/metrics` from a snapshot: kafka_exporter's lag names with the group's labels, the pipeline's
own gauges, and Redis's health, all from one snapshot and no I/O."""

from __future__ import annotations

from prometheus_client import generate_latest

from app.ops.metrics import ops_registry
from tests.support.ops import two_polls


def scrape() -> dict[str, float]:
    """Every sample of one scrape: `name{labels}` -> value."""
    snapshot = two_polls()
    text = generate_latest(ops_registry(lambda: snapshot)).decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_lag_per_partition_follows_kafka_exporters_names() -> None:
    samples = scrape()
    labels = 'consumergroup="clout-scorer",partition="0",topic="clout.likes"'
    assert samples[f"kafka_consumergroup_lag{{{labels}}}"] == 1234 - 1010
    assert samples[f"kafka_consumergroup_current_offset{{{labels}}}"] == 1010
    assert samples['kafka_consumergroup_members{consumergroup="clout-scorer"}'] == 1


def test_the_pipeline_and_redis_have_their_own_gauges() -> None:
    samples = scrape()
    assert samples["clout_ops_kafka_up"] == 1
    assert samples["clout_redis_up"] == 1
    assert samples["clout_redis_used_memory_bytes"] == 3 * 1048576
