"""Private Redis and Kafka servers of a test's own, on free ports, for tests that break them
(never the shared stack's), and the credentials of the private SASL broker."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pydantic import SecretStr

from app.core.settings import Settings
from app.devtools import local_kafka, local_tls
from app.devtools.isolation import free_port, free_ports
from app.devtools.processes import stop_child


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
    With `tls` (the CA and the server's own key pair), it speaks only TLS and wants a client
    certificate of that CA.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        user: tuple[str, str] | None = None,
        tls: tuple[local_tls.Pki, local_tls.KeyPair] | None = None,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = user
        self.tls = tls
        self.log_path = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL to configure as `CLOUT_REDIS_URL` (credentials travel apart)."""
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

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
        args = [binary, "--bind", "127.0.0.1", "--save", ""]
        if self.tls is not None:
            args += local_tls.redis_tls_args(self.tls[0], self.port, self.tls[1])
        else:
            args += ["--port", str(self.port)]
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
        stop_child(self.proc, timeout_s=30)
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
    With `tls`, it has the TLS listeners of `local_tls.KafkaTlsPorts` besides its plain one (which
    the brokers and the readiness probe use), where `tls_users` log in with PLAIN or SCRAM.
    """

    ADMIN = ("admin", "admin-secret-not-for-clients")

    def __init__(
        self,
        workdir: Path,
        *,
        sasl: dict[str, str] | None = None,
        node_id: int = 1,
        cluster: PrivateKafkaCluster | None = None,
        tls: local_tls.Pki | None = None,
        tls_users: dict[str, str] | None = None,
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.cluster = cluster
        self.tls = tls
        self.tls_users = tls_users or {}
        self._assign_ports()
        self.sasl = sasl
        self.log_path = workdir / "kafka.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._props = self.dir / "server.properties"
        self._formatted = False
        self._ever_ready = False

    def _assign_ports(self) -> None:
        self.port, self.controller_port, *tls_ports = free_ports(6 if self.tls else 2)
        self.tls_ports = local_tls.KafkaTlsPorts(*tls_ports) if tls_ports else None

    def mark_ready(self) -> None:
        """The node has answered once (a later exit is no longer a lost port)."""
        self._ever_ready = True

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
            extra_listeners=self.tls_ports.listeners() if self.tls_ports else (),
        )
        if self.tls is not None:
            lines += local_tls.kafka_tls_properties(self.tls, self.tls_users)
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
            scram = local_tls.scram_format_args(self.tls_users)
            fmt = subprocess.run(
                self._java(*local_kafka.format_args(cluster_id, self._props, scram)),
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
                self._assign_ports()
                self.start()
            kwargs = self.client_kwargs(*self.ADMIN) if self.sasl is not None else {}
            if await local_kafka.kafka_ready(self.bootstrap, 5.0, **kwargs):
                self.mark_ready()
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
        stop_child(self.proc, timeout_s=timeout_s)

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
                    node.mark_ready()
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


SASL_USER = f"clout-sasl-user-{secrets.token_hex(4)}"


SASL_PASSWORD = f"sasl-pw-{secrets.token_hex(12)}"


def on_sasl_kafka(settings: Settings, kafka: PrivateKafka) -> Settings:
    """`settings` pointed at the private broker with the SASL credentials (a secret)."""
    return settings.model_copy(
        update={
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "PLAIN",
            "kafka_sasl_username": SecretStr(SASL_USER),
            "kafka_sasl_password": SecretStr(SASL_PASSWORD),
        }
    )
