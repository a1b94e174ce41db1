"""A local Apache Kafka 4.1 (KRaft) from its official jars: class path, node configuration,
storage format arguments, java command line and a readiness probe.

Shared by the local stack (`make stack-up`, scripts/stack.py) and the tests' private brokers
(tests/support/private_servers.py), so both run the same broker the same way. The jars come from
`$KAFKA_HOME/libs`, or once from Maven Central (scripts/kafka/pom.xml) into .stack/kafka-libs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KAFKA_POM = ROOT / "scripts" / "kafka" / "pom.xml"
KAFKA_LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"
KAFKA_LIBS = ROOT / ".stack" / "kafka-libs"


class StackError(RuntimeError):
    """A service could not be made available; the message says why and what to look at."""


def kafka_classpath() -> str:
    """Classpath of the broker jars: $KAFKA_HOME/libs, or Maven Central's, fetched once."""
    kafka_home = os.environ.get("KAFKA_HOME")
    if kafka_home:
        libs = Path(kafka_home) / "libs"
        if not libs.is_dir():
            raise StackError(f"KAFKA_HOME={kafka_home} has no libs/ folder")
        return f"{libs}/*"
    marker = KAFKA_LIBS / ".complete"
    if not marker.exists():
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is needed to fetch Kafka's jars; or set KAFKA_HOME")
        print("stack: fetching Apache Kafka jars from Maven Central ...", flush=True)
        shutil.rmtree(KAFKA_LIBS, ignore_errors=True)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={KAFKA_LIBS}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"mvn could not fetch Kafka's jars:\n{result.stdout}{result.stderr}")
        marker.touch()
    return f"{KAFKA_LIBS}/*"


def kraft_properties(
    *,
    node_id: int,
    voters: str,
    host: str,
    port: int,
    controller_port: int,
    data: Path,
    replication: int,
    partitions: int,
    offsets_partitions: int = 8,
    listener: str = "PLAINTEXT",
    extra_listeners: Sequence[tuple[str, str, int]] = (),
) -> list[str]:
    """The configuration of one combined KRaft node (the stack's and the tests' brokers).

    With `replication` > 1, the cluster's own topics (group offsets, transactions) and its
    default for new topics are replicated that many times with `replication - 1` in-sync
    replicas required, so a cluster of 3 keeps accepting acks=all writes with one node down.
    `extra_listeners` are more client listeners, (name, security protocol, port); the brokers
    talk to each other on `listener`.
    """
    min_isr = max(1, replication - 1)
    clients = [(listener, listener, port), *extra_listeners]
    advertised = ",".join(f"{name}://{host}:{p}" for name, _, p in clients)
    protocols = ",".join(f"{name}:{protocol}" for name, protocol, _ in clients)
    return [
        "process.roles=broker,controller",
        f"node.id={node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners={advertised},CONTROLLER://{host}:{controller_port}",
        f"advertised.listeners={advertised}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map={protocols},CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        f"num.partitions={partitions}",
        f"default.replication.factor={replication}",
        f"min.insync.replicas={min_isr}",
        "auto.create.topics.enable=true",
        f"offsets.topic.replication.factor={replication}",
        f"offsets.topic.num.partitions={offsets_partitions}",
        f"transaction.state.log.replication.factor={replication}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replication}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
    ]


def java_cmd(classpath: str, main: str, *args: str) -> list[str]:
    """A java command line for one of Kafka's entry points with our logging config."""
    heap = os.environ.get("CLOUT_STACK_KAFKA_HEAP", "-Xmx1g -Xms256m").split()
    return [
        "java",
        *heap,
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        "-cp",
        classpath,
        main,
        *args,
    ]


def kafka_cluster_id() -> str:
    """A random cluster id made as Kafka's own `Uuid.randomUuid()` makes one.

    URL-safe base64 of a random UUID without padding, drawn again while it starts with '-': Kafka
    refuses those (its argument parser takes `-t -x...` for an option), and 1 id in 64 is one.
    Version-4 UUIDs never equal Kafka's reserved ids (all zeros, or 1).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_args(cluster_id: str, props: Path, extra: Sequence[str] = ()) -> list[str]:
    """StorageTool arguments that format a node's storage once (the id in `--opt=value` form);
    `extra` e.g. creates SCRAM users (app/devtools/local_tls.py)."""
    return [
        "kafka.tools.StorageTool",
        "format",
        f"--cluster-id={cluster_id}",
        "-c",
        str(props),
        "--ignore-formatted",
        *extra,
    ]


async def kafka_ready(
    bootstrap: str, timeout_s: float, brokers: int = 1, **client_kwargs: Any
) -> bool:
    """Whether the cluster lists `brokers` brokers and has a group coordinator.

    Metadata alone answers before the consumer-offsets topic has a leader; a consumer group
    started then fails its first requests, so the group coordinator is asked for as well.
    """
    from aiokafka.admin import AIOKafkaAdminClient  # local import: only needed for this probe

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while waiting
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **client_kwargs
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        if len(cluster["brokers"]) < brokers:
            return False
        await asyncio.wait_for(admin.find_coordinator("clout-stack-probe"), timeout_s)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
