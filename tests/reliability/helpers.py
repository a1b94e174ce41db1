"""Shared machinery of the reliability tests: deterministic traffic, its exact expected outcome,
reading what the worker left in Redis and Kafka, and private Redis / Kafka servers to break.

The expected outcome is the influence model applied exactly once to every counted event, which
is what one uninterrupted run computes. Traffic is built so that this outcome does not depend on
the order in which the worker interleaves its three input topics (Kafka orders a partition, not
a group of topics): actors have fixed standings (they are never targets), every actor engages a
given target through one topic only (repeat damping is order-dependent), no target has more
engagers than the model tracks (eviction is order-dependent), and all timestamps are recent
(no landmark rebase). Within one topic the order is the partition's, which Kafka keeps.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from app.devtools import local_kafka
from app.devtools.isolation import free_port, free_ports
from app.kafka_config import aiokafka_kwargs
from app.kafka_topics import partition_for
from app.scoring.events import EngagementEvent, Kind
from app.scoring.model import (
    DEFAULT_CURVE,
    ModelParams,
    raw_for_score,
    score_card,
    score_from_raw,
)
from app.scoring.signals import UserSignals, apply_event
from app.settings import Settings
from app.store.keys import RedisKeys
from app.store.leaderboard import Leaderboard

ROOT = Path(__file__).resolve().parents[2]
FLOAT_TOLERANCE = 1e-6
"""How far a stored float may be from the exact expectation (the issue's "within 1e-6")."""

NETWORKS = ("twitter", "instagram", "tiktok")


# --- traffic -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to produce: topic, key, value, and an explicit partition (None: by key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None


@dataclass
class Traffic:
    """Messages to send and the events among them that must count exactly once."""

    actors: dict[str, float]
    targets: list[str]
    messages: list[Outgoing] = field(default_factory=list)
    counted: list[tuple[Kind, dict[str, Any]]] = field(default_factory=list)
    duplicates: int = 0
    miskeyed: int = 0

    def then(self, later: Traffic) -> Traffic:
        """This traffic followed by `later` (same targets or not), as one expectation."""
        return Traffic(
            actors={**self.actors, **later.actors},
            targets=sorted(set(self.targets) | set(later.targets)),
            messages=[*self.messages, *later.messages],
            counted=[*self.counted, *later.counted],
            duplicates=self.duplicates + later.duplicates,
            miskeyed=self.miskeyed + later.miskeyed,
        )

    def expected_states(self, params: ModelParams) -> dict[str, UserSignals]:
        """Each target's signals after applying every counted event once (the exact outcome)."""
        standing = {
            actor: score_from_raw(raw_for_score(score, DEFAULT_CURVE), DEFAULT_CURVE)
            for actor, score in self.actors.items()
        }
        states: dict[str, UserSignals] = {}
        for kind, obj in self.counted:
            event = EngagementEvent(
                event_id=obj["event_id"],
                kind=kind,
                network=obj["network"],
                actor_id=obj["actor_id"],
                target_id=obj["target_id"],
                post_id=obj["post_id"],
                ts_ms=obj["ts"],
            )
            target = event.target_id
            states[target] = apply_event(
                states.get(target), event, standing[event.actor_id], params
            )
        return states


def make_traffic(
    settings: Settings,
    *,
    seed: int,
    targets: int,
    actors: int = 40,
    max_engagers: int = 12,
    duplicate_share: float = 0.03,
    miskeyed_share: float = 0.03,
    now_ms: int | None = None,
    tag: str = "",
    actor_tag: str = "",
) -> Traffic:
    """Deterministic engagement traffic over the three input topics of `settings`.

    Each target gets 1..`max_engagers` distinct actors; each (actor, target) pair uses one topic
    and engages 1..3 times (repeats exercise repeat damping), at times within the last two days.
    Some events are re-sent later with the same id (must count once); some single engagements
    are produced to a wrong partition (the worker re-keys them).
    """
    rng = random.Random(seed)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    params = settings.model_params()
    if max_engagers > params.top_actors:
        raise ValueError("more engagers than the model tracks makes the outcome order-dependent")
    actor_ids = {
        f"act{tag}{actor_tag}-{i:03d}": round(rng.uniform(35.0, 92.0), 1) for i in range(actors)
    }
    target_ids = [f"tgt{tag}-{i:04d}" for i in range(targets)]
    topics = {
        Kind.LIKE: settings.topic_likes,
        Kind.SHARE: settings.topic_shares,
        Kind.MENTION: settings.topic_mentions,
    }
    kinds = list(topics)
    traffic = Traffic(actors=actor_ids, targets=target_ids)
    pending: list[tuple[Kind, dict[str, Any], bool]] = []
    for target in target_ids:
        for actor in rng.sample(sorted(actor_ids), rng.randint(1, max_engagers)):
            kind = rng.choice(kinds)
            repeats = rng.choice((1, 1, 1, 2, 3))
            for _ in range(repeats):
                event = {
                    "event_id": f"{seed}-{rng.getrandbits(64):016x}",
                    "network": rng.choice(NETWORKS),
                    "actor_id": actor,
                    "target_id": target,
                    "post_id": rng.choice((None, f"p{rng.randrange(10**6)}")),
                    "ts": now - rng.randrange(60_000, 2 * 86_400_000),
                }
                pending.append((kind, event, repeats == 1))
    # Interleave targets and topics as real traffic would, keeping each pair's own order.
    shuffled = list(range(len(pending)))
    rng.shuffle(shuffled)
    position = {i: rank for rank, i in enumerate(shuffled)}
    by_pair: dict[tuple[str, str], list[int]] = {}
    for i, (_, event, _) in enumerate(pending):
        by_pair.setdefault((event["actor_id"], event["target_id"]), []).append(i)
    for members in by_pair.values():
        ranks = sorted(position[i] for i in members)
        position.update(zip(members, ranks, strict=True))
    sequence = sorted(range(len(pending)), key=position.__getitem__)
    partitions = settings.topic_partitions
    resend: list[Outgoing] = []
    for i in sequence:
        kind, event, single = pending[i]
        value = orjson.dumps(event)
        topic = topics[kind]
        traffic.counted.append((kind, event))
        if single and rng.random() < miskeyed_share:
            right = partition_for(event["target_id"], partitions)
            message = Outgoing(topic, b"wrong-key", value, (right + 1) % partitions)
            traffic.miskeyed += 1
        else:
            message = Outgoing(topic, event["target_id"].encode(), value)
        traffic.messages.append(message)
        if rng.random() < duplicate_share:
            resend.append(Outgoing(topic, event["target_id"].encode(), value))
        if resend and rng.random() < 0.05:
            traffic.messages.append(resend.pop(0))
            traffic.duplicates += 1
    traffic.messages.extend(resend)
    traffic.duplicates += len(resend)
    return traffic


async def produce_all(
    settings: Settings,
    messages: Sequence[Outgoing],
    *,
    pace_per_s: float | None = None,
    producer_kwargs: dict[str, Any] | None = None,
) -> list[tuple[str, int, int]]:
    """Send `messages` in order with one idempotent producer; return each one's position.

    With `pace_per_s`, sending is spread out at about that rate (a stream rather than a burst).
    """
    producer = AIOKafkaProducer(
        **aiokafka_kwargs(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **(producer_kwargs or {}),
    )
    await producer.start()
    try:
        started = time.monotonic()
        futures = []
        for n, m in enumerate(messages):
            futures.append(
                await producer.send(
                    m.topic, value=m.value, key=m.key, partition=m.partition, headers=m.headers
                )
            )
            if pace_per_s is not None and n % 200 == 199:
                ahead = (n + 1) / pace_per_s - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
        positions = []
        for future in futures:
            meta = await future
            positions.append((meta.topic, meta.partition, meta.offset))
        return positions
    finally:
        await producer.stop()


async def give_standing(
    client: aioredis.Redis, settings: Settings, actors: dict[str, float]
) -> None:
    """Publish each actor's score on the leaderboard, as the worker reads standings from it."""
    board = Leaderboard(client, settings.redis_key_prefix, settings.leaderboard_shards)
    pipe = client.pipeline(transaction=False)
    board.queue_set(
        pipe, {actor: raw_for_score(score, DEFAULT_CURVE) for actor, score in actors.items()}
    )
    await pipe.execute()


# --- what the worker left behind ---------------------------------------------------------------


async def read_cards(
    client: aioredis.Redis, settings: Settings, users: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Every stored card of `users` (absent users are left out); `client` decodes responses."""
    users = list(users)
    keys = RedisKeys(settings.redis_key_prefix)
    pipe = client.pipeline(transaction=False)
    for user in users:
        pipe.hgetall(keys.user(user))
    found = await pipe.execute()
    return {user: card for user, card in zip(users, found, strict=True) if card}


def card_mismatches(
    cards: dict[str, dict[str, str]], expected: dict[str, UserSignals], params: ModelParams
) -> list[str]:
    """How stored cards differ from the exact expectation, each card judged at its own time.

    A stored card is the model's card of the user's state at `updated_at`; the expected card is
    the same function of the exact expected state at the same instant. Counts must be equal,
    floats within `FLOAT_TOLERANCE`.
    """
    problems: list[str] = []
    for user, state in sorted(expected.items()):
        stored = cards.get(user)
        if stored is None:
            problems.append(f"{user}: no card")
            continue
        at = int(stored["updated_at"])
        want = score_card(user, state, at, params, DEFAULT_CURVE)
        got_components = orjson.loads(stored["components"])
        for kind in set(want.components) | set(got_components):
            w, g = want.components.get(kind, {}), got_components.get(kind, {})
            for network in set(w) | set(g):
                if not _close(w.get(network), g.get(network)):
                    problems.append(
                        f"{user}: {kind}/{network} {g.get(network)!r}, expected {w.get(network)!r}"
                    )
        if not _close(want.raw, float(stored["raw"])):
            problems.append(f"{user}: raw {stored['raw']}, expected {want.raw!r}")
        if int(stored["engagers"]) != want.engagers:
            problems.append(f"{user}: engagers {stored['engagers']}, expected {want.engagers}")
        if float(stored["score"]) != want.score:
            problems.append(f"{user}: score {stored['score']}, expected {want.score}")
        got_top = orjson.loads(stored["top_actors"])
        want_top = [[a.actor_id, a.contribution] for a in want.top_actors]
        if [a for a, _ in got_top] != [a for a, _ in want_top] or not all(
            _close(g, w) for (_, g), (_, w) in zip(got_top, want_top, strict=True)
        ):
            problems.append(f"{user}: top actors {got_top}, expected {want_top}")
    return problems


async def wait_for_exact_cards(
    client: aioredis.Redis,
    settings: Settings,
    traffic: Traffic,
    *,
    deadline_s: float = 180.0,
    alive: Iterable[Any] = (),
) -> None:
    """Wait until every target's card equals the exact expectation and every counted event has
    exactly one recorded first sighting; fail at the deadline with the differences."""
    params = settings.model_params()
    expected = traffic.expected_states(params)
    deadline = time.monotonic() + deadline_s
    while True:
        for worker in alive:
            worker.assert_alive()
        cards = await read_cards(client, settings, traffic.targets)
        problems = card_mismatches(cards, expected, params)
        seen = len(await seen_positions(client, settings))
        if seen != len(traffic.counted):
            problems.append(f"{seen} first sightings recorded for {len(traffic.counted)} events")
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(problems)} differences, first: {problems[:10]}")
        await asyncio.sleep(1.0)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= FLOAT_TOLERANCE


async def seen_positions(client: aioredis.Redis, settings: Settings) -> list[tuple[str, int, int]]:
    """Every (topic, partition, offset) the deduplicator recorded as an event's first sighting
    (an envelope item's record also names its index, left out here)."""
    keys = [
        key async for key in client.scan_iter(f"{settings.redis_key_prefix}:seen:*", count=1000)
    ]
    positions: list[tuple[str, int, int]] = []
    for chunk in _chunks(keys, 1000):
        for value in await client.mget(chunk):
            if value is not None:
                topic, partition, offset = value.split(":")[:3]  # topic names hold no ":"
                positions.append((topic, int(partition), int(offset)))
    return positions


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def group_members(settings: Settings) -> dict[str, set[tuple[str, int]]]:
    """The group's members and the partitions each one owns (DescribeGroups)."""
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([settings.app_id])
    finally:
        await admin.close()
    group = described[0].to_object()["groups"][0]
    members: dict[str, set[tuple[str, int]]] = {}
    for member in group["members"]:
        owned: set[tuple[str, int]] = set()
        if member["member_assignment"]:
            assignment = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            owned = {(tp.topic, tp.partition) for tp in assignment.partitions()}
        members[member["member_id"]] = owned
    return members


# --- private servers ---------------------------------------------------------------------------


def _wait_port(port: int, up: bool, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return True
        time.sleep(0.1)
    return False


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, to stop and restart at will.

    Append-only persistence in its own directory, so a restart keeps the data, as a production
    Redis with persistence would (the outage is of the service, not a loss of its data).
    With `user`, the default user is disabled and only that ACL user (password) may connect.
    """

    def __init__(self, workdir: Path, *, user: tuple[str, str] | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = user
        self.log_path = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL to configure as `CLOUT_REDIS_URL` (credentials travel apart)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections.

        A first start whose port was taken in the meantime (other test runs share the machine)
        is retried on a new port; a restart keeps its port, which clients already know.
        """
        first_start = self.proc is None
        for _ in range(5):
            logged = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn()
            if _wait_port(self.port, True, 20):
                time.sleep(0.2)  # a server that lost the port race exits at once
                if self.proc is not None and self.proc.poll() is None:
                    return
            with self.log_path.open("rb") as log:
                log.seek(logged)
                lost_port = b"Address already in use" in log.read()
            if not (first_start and lost_port):
                break
            self.port = free_port()
        raise RuntimeError(f"private redis-server did not start: {self.log_path.read_text()}")

    def _spawn(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "yes", "--dir", str(self.dir), "--daemonize", "no"]
        if self.user is not None:
            name, password = self.user
            args += ["--user", "default", "off"]
            args += ["--user", name, "on", f">{password}", "~*", "&*", "+@all"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def stop(self) -> None:
        """Shut the server down (SIGTERM: it writes its append-only file and exits)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        _wait_port(self.port, False, 10)

    def client(self) -> aioredis.Redis:
        """A decoding client with the ACL credentials, for checks from the test."""
        kwargs: dict[str, Any] = {"decode_responses": True}
        if self.user is not None:
            kwargs["username"], kwargs["password"] = self.user
        return aioredis.Redis.from_url(self.url, **kwargs)


class PrivateKafka:
    """A KRaft Kafka 4.1 node of the test's own (free ports, data in `workdir`): a single-node
    broker, or one node of a `PrivateKafkaCluster`.

    The same jars, java command line and node configuration as the local stack
    (app/devtools/local_kafka.py), with a small
    heap. With `sasl` (username -> password), its client listener is SASL_PLAINTEXT with PLAIN.
    """

    ADMIN = ("admin", "admin-secret-not-for-clients")

    def __init__(
        self,
        workdir: Path,
        *,
        sasl: dict[str, str] | None = None,
        node_id: int = 1,
        cluster: PrivateKafkaCluster | None = None,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.cluster = cluster
        self.port, self.controller_port = free_ports(2)
        self.sasl = sasl
        self.log_path = workdir / "kafka.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._props = self.dir / "server.properties"
        self._formatted = False
        self._ever_ready = False

    @property
    def bootstrap(self) -> str:
        """The client listener, `host:port`."""
        return f"127.0.0.1:{self.port}"

    def _write_properties(self) -> None:
        listener = "SASL_PLAINTEXT" if self.sasl is not None else "PLAINTEXT"
        nodes = self.cluster.nodes if self.cluster is not None else [self]
        lines = local_kafka.kraft_properties(
            node_id=self.node_id,
            voters=",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes),
            host="127.0.0.1",
            port=self.port,
            controller_port=self.controller_port,
            data=self.dir / "data",
            replication=len(nodes),
            partitions=8,
            offsets_partitions=4,
            listener=listener,
        )
        if self.sasl is not None:
            admin_user, admin_password = self.ADMIN
            users = {admin_user: admin_password, **self.sasl}
            jaas = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{admin_user}" password="{admin_password}" '
                + " ".join(f'user_{name}="{password}"' for name, password in users.items())
                + ";"
            )
            lines += [
                "sasl.enabled.mechanisms=PLAIN",
                "sasl.mechanism.inter.broker.protocol=PLAIN",
                f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}",
            ]
        self._props.write_text("\n".join(lines) + "\n")

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xmx384m",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={local_kafka.KAFKA_LOG4J}",
            "-cp",
            local_kafka.kafka_classpath(),
            main,
            *args,
        ]

    def start(self) -> None:
        """Start (or restart) the broker process; `wait_ready` waits until it answers."""
        self._write_properties()
        if not self._formatted:
            cluster_id = self.cluster.cluster_id if self.cluster else local_kafka.kafka_cluster_id()
            fmt = subprocess.run(
                self._java(*local_kafka.format_args(cluster_id, self._props)),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise RuntimeError(f"formatting storage failed:\n{fmt.stdout}{fmt.stderr}")
            self._formatted = True
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self._props)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def lost_its_port(self) -> bool:
        """Whether the process exited because a port was taken before it ever answered."""
        return (
            self.proc is not None
            and self.proc.poll() is not None
            and not self._ever_ready
            and "Address already in use" in self.log_tail(200)
        )

    async def wait_ready(self, deadline_s: float = 120.0) -> None:
        """Wait (inside an event loop) until the broker answers and has a group coordinator.

        A free port can be taken by another process between choosing it and the broker binding
        it (other test runs share the machine): a first start that fails that way is retried
        on new ports. A restart keeps its ports, which clients already know.
        """
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                if not self.lost_its_port():
                    raise RuntimeError(f"private Kafka exited:\n{self.log_tail()}")
                self.port, self.controller_port = free_ports(2)
                self.start()
            kwargs = self.client_kwargs(*self.ADMIN) if self.sasl is not None else {}
            if await local_kafka.kafka_ready(self.bootstrap, 5.0, **kwargs):
                self._ever_ready = True
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"private Kafka did not answer in time:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the node dies as in a crash, with no controlled shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def client_kwargs(self, username: str, password: str) -> dict[str, Any]:
        """aiokafka SASL arguments for a user of this broker."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }

    def stop(self, timeout_s: float = 60.0) -> None:
        """Controlled shutdown (SIGTERM), then wait for the process to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the broker's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class PrivateKafkaCluster:
    """`size` combined KRaft nodes of the test's own on free loopback ports: a controller quorum
    of `size` and brokers that replicate every topic `size` times (`size - 1` in sync)."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.cluster_id: str = local_kafka.kafka_cluster_id()
        self.nodes: list[PrivateKafka] = []
        self.nodes = [
            PrivateKafka(workdir / f"node-{i}", node_id=i, cluster=self) for i in range(1, size + 1)
        ]
        self._assign_ports()

    def _assign_ports(self) -> None:
        ports = free_ports(2 * len(self.nodes))
        for i, node in enumerate(self.nodes):
            node.port, node.controller_port = ports[2 * i], ports[2 * i + 1]

    @property
    def bootstrap(self) -> str:
        """Every node's client listener, comma-separated."""
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> PrivateKafka:
        """The node with that broker id."""
        return next(node for node in self.nodes if node.node_id == node_id)

    def start(self) -> None:
        """Start every node that is not running."""
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.start()

    async def wait_ready(self, deadline_s: float = 180.0) -> None:
        """Wait until every broker is listed and a group coordinator answers (first start: on
        new ports for all if one was taken before the cluster ever answered)."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            exited = [n for n in self.nodes if n.proc is not None and n.proc.poll() is not None]
            if exited:
                if not all(n.lost_its_port() for n in exited):
                    raise RuntimeError(f"node exited:\n{exited[0].log_tail()}")
                self.stop()
                self._assign_ports()
                self.start()
            if await local_kafka.kafka_ready(self.bootstrap, 5.0, len(self.nodes)):
                for node in self.nodes:
                    node._ever_ready = True
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"private cluster not ready in time:\n{self.nodes[0].log_tail()}")

    def stop(self) -> None:
        """Controlled shutdown of every node at once (one by one, the last ones would wait for
        a controller quorum that has already gone)."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop(timeout_s=30)
