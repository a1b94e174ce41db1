"""A real Redis Cluster on loopback: masters with one replica each, for the stack and the tests.

Started the way an operator starts one: ``redis-server --cluster-enabled yes`` per node, then
``redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes``. Every node writes its pid
file in its own folder, so a later process (``make stack-down``) can stop what an earlier one
(``make stack-up``) started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.devtools import local_tls
from app.devtools.isolation import free_port
from app.devtools.processes import live_pid, log_tail, redis_server_command, spawn, wait_gone


class ClusterError(RuntimeError):
    """The cluster could not be started or did not become healthy; the message says why."""


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One redis-server of the cluster: its client port, bus port and folder."""

    port: int
    bus_port: int
    dir: Path

    @property
    def pid_file(self) -> Path:
        """Where the node's pid is recorded."""
        return self.dir / "redis.pid"

    @property
    def log(self) -> Path:
        """The node's log file."""
        return self.dir / "redis.log"


class LocalRedisServer:
    """One plain redis-server of its own on a free loopback port (no persistence), for
    measurements that must not see other clients' commands."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path) -> None:
        self.node = ClusterNode(free_port(), 0, workdir)

    @property
    def url(self) -> str:
        """The server's URL (`CLOUT_REDIS_URL`)."""
        return f"redis://{self.host}:{self.node.port}/0"

    def start(self, deadline_s: float = 30.0) -> None:
        """Start the server and wait until it answers PING."""
        self.node.dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = redis_server_command(
            binary, self.host, self.node.port, self.node.dir, appendonly=False
        )
        spawn(command, self.node.log, self.node.pid_file)
        deadline = time.monotonic() + deadline_s
        while not _answers(self.host, self.node.port):
            if time.monotonic() > deadline or live_pid(self.node.pid_file) is None:
                raise ClusterError(f"redis-server did not start:\n{log_tail(self.node.log)}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        pid = live_pid(self.node.pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not wait_gone(pid, 20):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid)
        self.node.pid_file.unlink(missing_ok=True)


class LocalRedisCluster:
    """`masters` masters and `masters * replicas` replicas on 127.0.0.1 under `workdir`.

    `ports` are the client ports (masters first, as redis-cli assigns them); each node's cluster
    bus listens on the matching entry of `bus_ports`. `node_timeout_ms` is how long a silent
    master is waited for before its replica is promoted. With `tls`, clients, the cluster bus
    and replication speak only TLS, and clients need a certificate of that CA.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        ports: list[int],
        bus_ports: list[int],
        *,
        replicas: int = 1,
        node_timeout_ms: int = 2000,
        tls: local_tls.Pki | None = None,
    ) -> None:
        if len(ports) != len(bus_ports) or len(ports) % (replicas + 1) or len(ports) < 3:
            raise ValueError("need one bus port per port and at least three masters' worth")
        self.workdir = workdir
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.tls = tls
        self.nodes = [
            ClusterNode(p, b, workdir / f"node-{p}") for p, b in zip(ports, bus_ports, strict=True)
        ]

    @classmethod
    def on_free_ports(
        cls,
        workdir: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 2000,
        tls: local_tls.Pki | None = None,
    ) -> LocalRedisCluster:
        """A cluster whose client and bus ports are loopback ports free right now."""
        ports: set[int] = set()
        while len(ports) < 2 * masters * (replicas + 1):
            ports.add(free_port())
        ordered = sorted(ports)
        half = len(ordered) // 2
        return cls(
            workdir,
            ordered[:half],
            ordered[half:],
            replicas=replicas,
            node_timeout_ms=node_timeout_ms,
            tls=tls,
        )

    @property
    def url(self) -> str:
        """A seed URL (`CLOUT_REDIS_URL`); the client discovers the other nodes from it."""
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.nodes[0].port}/0"

    def settings(self) -> dict[str, Any]:
        """The Settings fields that point Clout at this cluster (every node a seed; with TLS,
        the CA and the client certificate)."""
        fields: dict[str, Any] = {
            "redis_url": self.url,
            "redis_cluster": True,
            "redis_cluster_nodes": ",".join(f"{self.host}:{n.port}" for n in self.nodes[1:]),
        }
        if self.tls is not None:
            fields |= {
                "redis_ssl_cafile": str(self.tls.ca),
                "redis_ssl_certfile": str(self.tls.client.cert),
                "redis_ssl_keyfile": str(self.tls.client.key),
            }
        return fields

    def running(self) -> bool:
        """Whether every node's recorded process is alive."""
        return all(live_pid(node.pid_file) is not None for node in self.nodes)

    def start(self, deadline_s: float = 60.0) -> None:
        """Start every node, form the cluster (once) and wait until it serves every slot with
        each master's replicas attached."""
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        for node in self.nodes:
            self._start_node(binary, node)
        deadline = time.monotonic() + deadline_s
        for node in self.nodes:
            while not self._answers(node.port):
                if time.monotonic() > deadline or live_pid(node.pid_file) is None:
                    raise ClusterError(f"node {node.port} did not start:\n{log_tail(node.log)}")
                time.sleep(0.05)
        if "cluster_state:ok" not in self.cli(self.nodes[0].port, "cluster", "info"):
            self._create()
        self.wait_healthy(deadline - time.monotonic())

    def _start_node(self, binary: str, node: ClusterNode) -> None:
        if live_pid(node.pid_file) is not None:
            return
        node.dir.mkdir(parents=True, exist_ok=True)
        cluster_options = [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            str(node.bus_port),
            "--cluster-config-file",
            str(node.dir / "nodes.conf"),
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
        ]
        port = node.port
        if self.tls is not None:
            cluster_options += local_tls.redis_tls_args(self.tls, node.port)
            cluster_options += ["--tls-cluster", "yes", "--tls-replication", "yes"]
            port = 0  # no plain port
        command = redis_server_command(
            binary, self.host, port, node.dir, appendonly=False, extra=cluster_options
        )
        spawn(command, node.log, node.pid_file)

    def _answers(self, port: int) -> bool:
        if self.tls is not None:
            return local_tls.tls_redis_answers(self.tls, port)
        return _answers(self.host, port)

    def _cli_tls(self) -> list[str]:
        """redis-cli's options for this cluster's TLS (none without)."""
        if self.tls is None:
            return []
        ca, cert, key = self.tls.ca, self.tls.client.cert, self.tls.client.key
        return ["--tls", "--cacert", str(ca), "--cert", str(cert), "--key", str(key)]

    def _create(self) -> None:
        addresses = [f"{self.host}:{node.port}" for node in self.nodes]
        result = subprocess.run(
            [
                _redis_cli(),
                *self._cli_tls(),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}"
            )

    def wait_healthy(self, timeout_s: float = 60.0, *, with_replicas: bool = True) -> None:
        """Until every live node reports ``cluster_state:ok`` with all masters serving, and
        (`with_replicas`) every master has its replicas connected, so a master's loss can be
        survived; after a failover the promoted master has none, so pass False."""
        deadline = time.monotonic() + timeout_s
        problem = "not checked"
        while time.monotonic() < deadline:
            problem = self._health_problem(with_replicas)
            if not problem:
                return
            time.sleep(0.2)
        raise ClusterError(f"the Redis Cluster is not healthy after {timeout_s:.0f} s: {problem}")

    def _health_problem(self, with_replicas: bool) -> str:
        masters = 0
        for node in self.nodes:
            if live_pid(node.pid_file) is None:
                continue
            info = self.cli(node.port, "cluster", "info")
            if "cluster_state:ok" not in info:
                return f"node {node.port}: {info.strip()[:80] or 'no answer'}"
            replication = self.cli(node.port, "info", "replication")
            if "role:master" in replication:
                masters += 1
                if not with_replicas:
                    continue
                if f"connected_slaves:{self.replicas}" not in replication:
                    return f"master {node.port} has not all its replicas connected"
                if "slave0:" in replication and "online" not in replication:
                    return f"master {node.port}'s replica is still syncing"
        expected = len(self.nodes) // (self.replicas + 1)
        return "" if masters == expected else f"{masters} masters, expected {expected}"

    def masters(self) -> list[ClusterNode]:
        """The live nodes that are masters right now."""
        return [
            node
            for node in self.nodes
            if live_pid(node.pid_file) is not None
            and "role:master" in self.cli(node.port, "info", "replication")
        ]

    def kill(self, node: ClusterNode) -> None:
        """kill -9 one node (no shutdown, no goodbye to the cluster)."""
        pid = live_pid(node.pid_file)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
        node.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop every node this cluster's pid files name (SIGTERM, then SIGKILL)."""
        for node in self.nodes:
            pid = live_pid(node.pid_file)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        for node in self.nodes:
            pid = live_pid(node.pid_file)
            if pid is not None and not wait_gone(pid, 20):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid)
            node.pid_file.unlink(missing_ok=True)

    def cli(self, port: int, *args: str) -> str:
        """redis-cli's answer from one node ('' when it does not answer)."""
        result = subprocess.run(
            [_redis_cli(), *self._cli_tls(), "-h", self.host, "-p", str(port), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
        )
        return result.stdout if result.returncode == 0 else ""


def _redis_cli() -> str:
    return shutil.which("redis-cli") or "/usr/bin/redis-cli"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
