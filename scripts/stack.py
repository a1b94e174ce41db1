"""Local Kafka (KRaft, single node) and Redis for development, tests and benchmarks.

    python scripts/stack.py up|status|down

Kafka's official jars come from Maven Central (scripts/kafka/pom.xml, fetched with Maven into
.stack/kafka-libs), or from an unpacked distribution named by KAFKA_HOME. redis-server is the one
on PATH, else Debian's package; so is libjemalloc2, the worker's allocator. Both servers listen on
loopback at the addresses in Settings. A service that already answers at its address is reused;
`down` stops only what `up` started (pid files).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.settings import Settings  # noqa: E402
from app.devtools import local_tls  # noqa: E402
from app.devtools.alerting import (  # noqa: E402
    AlertingError,
    AlertingStack,
    stack_alerting,
    stack_alerting_up,
)
from app.devtools.local_kafka import (  # noqa: E402
    StackError,
    format_args,
    java_cmd,
    kafka_classpath,
    kafka_cluster_id,
    kafka_ready,
    kraft_properties,
)
from app.devtools.processes import (  # noqa: E402
    live_pid,
    log_tail,
    redis_server_command,
    spawn,
)
from app.devtools.redis_cluster import ClusterError, LocalRedisCluster  # noqa: E402
from streams.allocator import jemalloc_library  # noqa: E402

STACK = ROOT / ".stack"
KAFKA_CLUSTER = STACK / "kafka-cluster"
REDIS_DIR = STACK / "redis"
REDIS_LOG = STACK / "redis.log"
REDIS_PID = STACK / "redis.pid"
REDIS_CLUSTER_DIR = STACK / "redis-cluster"
READY_DEADLINE_S = float(os.environ.get("CLOUT_STACK_READY_DEADLINE_S", "120"))


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --- Kafka ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One KRaft node (combined broker and controller) of the local stack, and its files."""

    node_id: int
    host: str
    port: int
    controller_port: int
    data: Path
    props: Path
    log: Path
    pid: Path


def kafka_nodes(settings: Settings) -> list[KafkaNode]:
    """The stack's nodes: one, with the files it always had, or `stack_brokers` of them on the
    bootstrap and controller ports + 0, 2, 4, each in its own folder of .stack/kafka-cluster."""
    host, port = settings.kafka_host_port
    controller = settings.stack_kafka_controller_port
    if settings.stack_brokers == 1:
        return [
            KafkaNode(
                1,
                host,
                port,
                controller,
                STACK / "kafka-data",
                STACK / "server.properties",
                STACK / "kafka.log",
                STACK / "kafka.pid",
            )
        ]
    nodes = []
    for i in range(settings.stack_brokers):
        home = KAFKA_CLUSTER / f"node-{i + 1}"
        nodes.append(
            KafkaNode(
                i + 1,
                host,
                port + 2 * i,
                controller + 2 * i,
                home / "data",
                home / "server.properties",
                home / "kafka.log",
                home / "kafka.pid",
            )
        )
    return nodes


def voters_of(nodes: list[KafkaNode]) -> str:
    """`controller.quorum.voters`: every node is a voter of the controller quorum."""
    return ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in nodes)


def write_kafka_properties(settings: Settings, node: KafkaNode, nodes: list[KafkaNode]) -> Path:
    """Write one stack node's configuration file."""
    node.props.parent.mkdir(parents=True, exist_ok=True)
    lines = kraft_properties(
        node_id=node.node_id,
        voters=voters_of(nodes),
        host=node.host,
        port=node.port,
        controller_port=node.controller_port,
        data=node.data,
        replication=len(nodes),
        partitions=settings.topic_partitions,
    )
    node.props.write_text("\n".join(lines) + "\n")
    return node.props


def formatted_cluster_id(nodes: list[KafkaNode]) -> str | None:
    """The cluster id a node of `nodes` was formatted with, if any was."""
    for node in nodes:
        meta = node.data / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.removeprefix("cluster.id=")
    return None


def kafka_up(settings: Settings) -> str:
    """Start the stack's node(s) unless a cluster already answers; return how it was obtained."""
    nodes = kafka_nodes(settings)
    wanted = len(nodes)
    if asyncio.run(kafka_ready(settings.kafka_bootstrap, 3.0)):
        if wanted > 1 and not asyncio.run(kafka_ready(settings.kafka_bootstrap, 3.0, wanted)):
            raise StackError(
                f"a Kafka with fewer than {wanted} brokers already answers at "
                f"{settings.kafka_bootstrap}; stop it or point CLOUT_KAFKA_BOOTSTRAP elsewhere"
            )
        return "reused"
    classpath = ""
    for node in nodes:
        if live_pid(node.pid) is not None:
            continue
        if port_open(node.host, node.port):
            raise StackError(f"{node.host}:{node.port} is taken by something that is not Kafka")
        classpath = classpath or kafka_classpath()
        props = write_kafka_properties(settings, node, nodes)
        if not (node.data / "meta.properties").exists():
            cluster_id = formatted_cluster_id(nodes) or kafka_cluster_id()
            fmt = subprocess.run(
                java_cmd(classpath, *format_args(cluster_id, props)),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        spawn(java_cmd(classpath, "kafka.Kafka", str(props)), node.log, node.pid, cwd=ROOT)
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        for node in nodes:
            if live_pid(node.pid) is None:
                raise StackError(
                    f"Kafka node {node.node_id} exited during start-up:\n{log_tail(node.log)}"
                )
        if asyncio.run(kafka_ready(settings.kafka_bootstrap, 2.0, wanted)):
            return "started" if wanted == 1 else f"started ({wanted} brokers)"
        time.sleep(0.5)
    raise StackError(
        f"Kafka did not answer with {wanted} broker(s) and a group coordinator at "
        f"{settings.kafka_bootstrap} within {READY_DEADLINE_S:.0f}s; log tail:\n"
        + "\n".join(log_tail(node.log, 10) for node in nodes)
    )


# --- Redis ------------------------------------------------------------------------------------


def install_debian_package(package: str) -> None:
    """apt-get install one package (as root, else through sudo)."""
    print(f"stack: installing Debian's {package} package ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        result = subprocess.run(sudo + cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr}")


def worker_allocator(settings: Settings) -> str:
    """The worker's allocator library, installing Debian's libjemalloc2 if it is wanted and
    missing (streams/allocator.py); return what the worker will run on."""
    if settings.worker_allocator != "jemalloc":
        return "system (CLOUT_WORKER_ALLOCATOR=system)"
    if jemalloc_library() is None:
        install_debian_package("libjemalloc2")
    library = jemalloc_library()
    if library is None:
        raise StackError("jemalloc is still missing after installing libjemalloc2")
    return f"jemalloc ({library})"


def redis_server_binary() -> str:
    """redis-server from PATH, installing Debian's package if it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    install_debian_package("redis-server")
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        raise StackError("redis-server is still missing after installing the package")
    return found


def redis_answers(host: str, port: int) -> bool:
    """Whether a Redis server answers PING at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def redis_up(settings: Settings) -> str:
    """Start redis-server unless one already answers; return how it was obtained."""
    host, port = settings.redis_host_port
    if redis_answers(host, port):
        return "reused"
    if live_pid(REDIS_PID) is None:
        if port_open(host, port):
            raise StackError(f"{host}:{port} is taken by something that is not Redis")
        binary = redis_server_binary()
        REDIS_DIR.mkdir(parents=True, exist_ok=True)
        command = redis_server_command(binary, host, port, REDIS_DIR, appendonly=True)
        spawn(command, REDIS_LOG, REDIS_PID, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if live_pid(REDIS_PID) is None and not redis_answers(host, port):
            raise StackError(f"redis-server exited during start-up:\n{log_tail(REDIS_LOG)}")
        if redis_answers(host, port):
            return "started"
        time.sleep(0.2)
    raise StackError(f"Redis did not answer PING at {host}:{port}:\n{log_tail(REDIS_LOG)}")


# --- Redis Cluster (CLOUT_STACK_REDIS=cluster) -------------------------------------------------


def stack_cluster(settings: Settings) -> LocalRedisCluster:
    """The stack's cluster: six nodes from `stack_redis_cluster_port` on (masters first), each
    with its cluster bus 10,000 ports higher, as Redis does by default."""
    ports = [settings.stack_redis_cluster_port + i for i in range(6)]
    return LocalRedisCluster(REDIS_CLUSTER_DIR, ports, [p + 10_000 for p in ports], replicas=1)


def redis_cluster_up(settings: Settings) -> str:
    """Start the cluster unless its nodes already run; return how it was obtained and the
    settings that point Clout at it."""
    cluster = stack_cluster(settings)
    reused = cluster.running()
    if not reused:
        for node in cluster.nodes:
            if port_open(cluster.host, node.port):
                raise StackError(f"{cluster.host}:{node.port} is taken by something else")
        redis_server_binary()  # installs Debian's package (redis-server and redis-cli) if missing
    try:
        cluster.start()
    except ClusterError as exc:
        raise StackError(str(exc)) from exc
    how = "reused" if reused else "started"
    env = " ".join(f"CLOUT_{k.upper()}={str(v).lower()}" for k, v in cluster.settings().items())
    return f"{how}; use {env}"


def redis_cluster_status(settings: Settings) -> bool:
    """Print whether the stack's cluster is up; True when it serves every slot."""
    cluster = stack_cluster(settings)
    ok = "cluster_state:ok" in cluster.cli(cluster.nodes[0].port, "cluster", "info")
    owner = "started by this stack" if cluster.running() else "not started by this stack"
    print(f"redis cluster: {'up' if ok else 'DOWN'} at {cluster.url} ({owner})")
    return ok


# --- Prometheus and Alertmanager (CLOUT_STACK_ALERTS=on) ---------------------------------------


def alerting_stack(settings: Settings) -> AlertingStack:
    """The stack's Prometheus and Alertmanager, their files in .stack/alerting."""
    return stack_alerting(settings, STACK / "alerting")


def alerting_up(settings: Settings) -> str:
    """Start Prometheus and Alertmanager unless they run; return how and where."""
    try:
        return stack_alerting_up(settings, STACK / "alerting")
    except AlertingError as exc:
        raise StackError(str(exc)) from exc


# --- TLS Kafka and Redis (CLOUT_STACK_TLS=true) -----------------------------------------------

TLS_DIR = STACK / "tls"
TLS_KAFKA_DATA, TLS_KAFKA_PROPS = TLS_DIR / "kafka-data", TLS_DIR / "server.properties"
TLS_KAFKA_LOG, TLS_KAFKA_PID = TLS_DIR / "kafka.log", TLS_DIR / "kafka.pid"
TLS_REDIS_LOG, TLS_REDIS_PID = TLS_DIR / "redis.log", TLS_DIR / "redis.pid"
# Local-only credentials for the TLS stack, printed by `up`: nothing secret is reachable with them.
TLS_USER, TLS_PASSWORD, TLS_KEY_PASSWORD = "clout", "clout-local-tls", "clout-local-key"


def tls_up(settings: Settings) -> str:
    """Start the TLS node and redis-server unless they run; return the settings reaching them."""
    pki = local_tls.pki_files(TLS_DIR / "pki", TLS_KEY_PASSWORD)
    if not pki.client_encrypted_key.exists():
        local_tls.make_pki(pki.ca.parent, TLS_KEY_PASSWORD, days=365)
    base = settings.stack_tls_kafka_port
    ports = local_tls.KafkaTlsPorts(base + 1, base + 2, base + 3, base + 4)
    plain = f"127.0.0.1:{base}"
    if live_pid(TLS_KAFKA_PID) is None and not asyncio.run(kafka_ready(plain, 3.0)):
        classpath = kafka_classpath()
        users = {TLS_USER: TLS_PASSWORD}
        lines = kraft_properties(
            node_id=1, voters=f"1@127.0.0.1:{base + 5}", host="127.0.0.1", port=base,
            controller_port=base + 5, data=TLS_KAFKA_DATA, replication=1,
            partitions=settings.topic_partitions, extra_listeners=ports.listeners(),
        )  # fmt: skip
        TLS_DIR.mkdir(parents=True, exist_ok=True)
        TLS_KAFKA_PROPS.write_text("\n".join(lines + local_tls.kafka_tls_properties(pki, users)))
        if not (TLS_KAFKA_DATA / "meta.properties").exists():
            scram = local_tls.scram_format_args(users)
            fmt = subprocess.run(
                java_cmd(classpath, *format_args(kafka_cluster_id(), TLS_KAFKA_PROPS, scram)),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting the TLS node failed:\n{fmt.stdout}{fmt.stderr}")
        spawn(
            java_cmd(classpath, "kafka.Kafka", str(TLS_KAFKA_PROPS)), TLS_KAFKA_LOG, TLS_KAFKA_PID
        )
    redis_port = settings.stack_tls_redis_port
    if live_pid(TLS_REDIS_PID) is None and not local_tls.tls_redis_answers(pki, redis_port):
        command = redis_server_command(
            redis_server_binary(), "127.0.0.1", 0, TLS_DIR / "redis", appendonly=True,
            extra=local_tls.redis_tls_args(pki, redis_port),
        )  # fmt: skip
        (TLS_DIR / "redis").mkdir(parents=True, exist_ok=True)
        spawn(command, TLS_REDIS_LOG, TLS_REDIS_PID, cwd=ROOT)
    deadline = time.monotonic() + READY_DEADLINE_S
    while not (
        asyncio.run(kafka_ready(plain, 2.0)) and local_tls.tls_redis_answers(pki, redis_port)
    ):
        if time.monotonic() > deadline:
            raise StackError(
                f"the TLS stack did not answer within {READY_DEADLINE_S:.0f}s:\n"
                f"{log_tail(TLS_KAFKA_LOG, 10)}\n{log_tail(TLS_REDIS_LOG, 10)}"
            )
        time.sleep(0.5)
    return (
        f"CLOUT_KAFKA_BOOTSTRAP=127.0.0.1:{ports.sasl_ssl} CLOUT_KAFKA_SECURITY_PROTOCOL=SASL_SSL "
        f"CLOUT_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 CLOUT_KAFKA_SASL_USERNAME={TLS_USER} "
        f"CLOUT_KAFKA_SASL_PASSWORD={TLS_PASSWORD} CLOUT_KAFKA_SSL_CAFILE={pki.ca} "
        f"CLOUT_REDIS_URL=rediss://127.0.0.1:{redis_port}/0 CLOUT_REDIS_SSL_CAFILE={pki.ca} "
        f"CLOUT_REDIS_SSL_CERTFILE={pki.client.cert} CLOUT_REDIS_SSL_KEYFILE={pki.client.key} "
        f"CLOUT_API_SSL_CERTFILE={pki.server.cert} CLOUT_API_SSL_KEYFILE={pki.server.key} "
        f"CLOUT_API_SSL_CAFILE={pki.ca}"
    )


def tls_status(settings: Settings) -> None:
    """Print whether the TLS node and redis-server answer."""
    pki = local_tls.pki_files(TLS_DIR / "pki", TLS_KEY_PASSWORD)
    kafka_ok = asyncio.run(kafka_ready(f"127.0.0.1:{settings.stack_tls_kafka_port}", 3.0))
    redis_ok = local_tls.tls_redis_answers(pki, settings.stack_tls_redis_port)
    for name, ok in (("tls kafka", kafka_ok), ("tls redis", redis_ok)):
        print(f"{name}: {'up' if ok else 'DOWN'}")


# --- commands ---------------------------------------------------------------------------------


def stop(pid_file: Path, name: str) -> None:
    """Stop the process recorded in pid_file (TERM, then KILL after a grace period)."""
    pid = live_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        print(f"{name}: not started by this stack")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and live_pid(pid_file) is not None:
        time.sleep(0.2)
    if live_pid(pid_file) is not None:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print(f"{name}: stopped (pid {pid})")


def status(settings: Settings) -> bool:
    """Print whether each service answers; True when both do."""
    nodes = kafka_nodes(settings)
    kafka_ok = asyncio.run(kafka_ready(settings.kafka_bootstrap, 3.0, len(nodes)))
    redis_host, redis_port = settings.redis_host_port
    redis_ok = redis_answers(redis_host, redis_port)
    kafka_lines = [("kafka", kafka_ok, settings.kafka_bootstrap, nodes[0].pid)]
    if len(nodes) > 1:
        kafka_lines = [
            (f"kafka node {n.node_id}", kafka_ok, f"{n.host}:{n.port}", n.pid) for n in nodes
        ]
    for name, ok, address, pid_file in (
        *kafka_lines,
        ("redis", redis_ok, f"{redis_host}:{redis_port}", REDIS_PID),
    ):
        pid = live_pid(pid_file)
        owner = f"pid {pid}, started by this stack" if pid else "not started by this stack"
        print(f"{name}: {'up' if ok else 'DOWN'} at {address} ({owner})")
    alerting_ok = True
    if settings.stack_alerts == "on":
        alerting = alerting_stack(settings)
        alerting_ok = alerting.running()
        print(
            f"alerting: {'up' if alerting_ok else 'DOWN'} at {alerting.prometheus_url} "
            f"(prometheus), {alerting.alertmanager_url} (alertmanager)"
        )
    return kafka_ok and redis_ok and alerting_ok


def main(argv: list[str]) -> int:
    """Entry point: up, status or down."""
    command = argv[1] if len(argv) > 1 else "status"
    settings = Settings()
    STACK.mkdir(exist_ok=True)
    try:
        if command == "up":
            print(f"worker allocator: {worker_allocator(settings)}", flush=True)
        if command == "up" and settings.stack_tls:
            print(f"tls: up; use {tls_up(settings)}", flush=True)
        if command == "up" and settings.stack_redis == "cluster":
            print(f"redis cluster: {redis_cluster_up(settings)}", flush=True)
            print(f"kafka: {kafka_up(settings)} at {settings.kafka_bootstrap}", flush=True)
            return 0
        if command == "up":
            print(f"redis: {redis_up(settings)} at {settings.redis_url}", flush=True)
            print(f"kafka: {kafka_up(settings)} at {settings.kafka_bootstrap}", flush=True)
            if settings.stack_alerts == "on":
                print(f"alerting: {alerting_up(settings)}", flush=True)
            nodes = kafka_nodes(settings)
            if len(nodes) > 1:
                print(
                    "kafka: for replicated topics export "
                    f"CLOUT_KAFKA_BOOTSTRAP={','.join(f'{n.host}:{n.port}' for n in nodes)} "
                    f"CLOUT_TOPIC_REPLICATION_FACTOR={len(nodes)} "
                    f"CLOUT_TOPIC_MIN_INSYNC_REPLICAS={len(nodes) - 1}",
                    flush=True,
                )
            return 0
        if command == "status" and settings.stack_tls:
            tls_status(settings)
        if command == "status" and settings.stack_redis == "cluster":
            return 0 if redis_cluster_status(settings) and status(settings) else 1
        if command == "status":
            return 0 if status(settings) else 1
        if command == "down":
            for node in kafka_nodes(settings):
                stop(node.pid, f"kafka node {node.node_id}")
            stop(REDIS_PID, "redis")
            if any(live_pid(pid) for pid in alerting_stack(settings).pid_files):
                alerting_stack(settings).stop()
                print("alerting: stopped")
            if TLS_DIR.exists():
                stop(TLS_KAFKA_PID, "tls kafka")
                stop(TLS_REDIS_PID, "tls redis")
            if REDIS_CLUSTER_DIR.exists():
                stack_cluster(settings).stop()  # the nodes whose pid files it finds
                print("redis cluster: stopped")
            return 0
    except StackError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    print(f"usage: {argv[0]} up|status|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
