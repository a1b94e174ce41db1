"""The local Kafka's cluster ids as Kafka makes them, and its storage format arguments."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from app.devtools import local_kafka


def test_cluster_ids_never_start_with_a_dash_and_decode_to_a_uuid() -> None:
    ids = [local_kafka.kafka_cluster_id() for _ in range(10_000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert len(set(ids)) == len(ids)
    for cluster_id in ids[:100]:
        assert len(cluster_id) == 22
        raw = base64.urlsafe_b64decode(cluster_id + "==")
        assert uuid.UUID(bytes=raw).version == 4


def test_plain_base64_uuids_do_start_with_a_dash_often_enough_to_matter() -> None:
    # The failure this guards against: about 1 random id in 64 starts with '-'.
    dashed = sum(
        base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().startswith("-") for _ in range(10_000)
    )
    assert dashed > 50


def test_the_cluster_id_is_passed_in_option_equals_value_form() -> None:
    args = local_kafka.format_args("-leading-dash-id-xxxxx", Path("/x/server.properties"))
    assert "--cluster-id=-leading-dash-id-xxxxx" in args
    assert "-t" not in args
