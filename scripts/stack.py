"""Local Kafka (KRaft, single node) and Redis for development, tests and benchmarks.

    python scripts/stack.py up|status|down

Kafka's official jars come from Maven Central (scripts/kafka/pom.xml, fetched with Maven into
.stack/kafka-libs), or from an unpacked distribution named by KAFKA_HOME. redis-server is the one
on PATH, else Debian's package. Both listen on loopback at the addresses in Settings. A service
that already answers at its address is reused; `down` stops only what `up` started (pid files).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devtools.redis_cluster import ClusterError, LocalRedisCluster  # noqa: E402
from app.settings import Settings  # noqa: E402

STACK = ROOT / ".stack"
KAFKA_POM = ROOT / "scripts" / "kafka" / "pom.xml"
KAFKA_LOG4J = ROOT / "scripts" / "kafka" / "log4j2.properties"
KAFKA_LIBS = STACK / "kafka-libs"
KAFKA_DATA = STACK / "kafka-data"
KAFKA_LOG = STACK / "kafka.log"
KAFKA_PID = STACK / "kafka.pid"
REDIS_DIR = STACK / "redis"
REDIS_LOG = STACK / "redis.log"
REDIS_PID = STACK / "redis.pid"
REDIS_CLUSTER_DIR = STACK / "redis-cluster"
READY_DEADLINE_S = float(os.environ.get("CLOUT_STACK_READY_DEADLINE_S", "120"))


class StackError(RuntimeError):
    """A service could not be made available; the message says why and what to look at."""


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def spawn(cmd: list[str], log: Path, pid_file: Path) -> int:
    """Start a detached daemon with its output in `log` and record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines of a service log, for error messages."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {log})"


# --- Kafka ------------------------------------------------------------------------------------


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


def kafka_properties(settings: Settings) -> Path:
    """Write the single-node KRaft (combined broker+controller) configuration."""
    host, port = settings.kafka_host_port
    controller = settings.stack_kafka_controller_port
    props = STACK / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@{host}:{controller}",
                f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
                f"advertised.listeners=PLAINTEXT://{host}:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={KAFKA_DATA}",
                f"num.partitions={settings.topic_partitions}",
                "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    return props


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


async def kafka_answers_metadata(bootstrap: str, timeout_s: float) -> bool:
    """Whether the broker answers a metadata request within timeout_s."""
    from aiokafka import AIOKafkaClient  # local import: only needed for this probe

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while waiting
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


def kafka_up(settings: Settings) -> str:
    """Start the broker unless one already answers; return how it was obtained."""
    host, port = settings.kafka_host_port
    if asyncio.run(kafka_answers_metadata(settings.kafka_bootstrap, 3.0)):
        return "reused"
    if read_pid(KAFKA_PID) is None:
        if port_open(host, port):
            raise StackError(f"{host}:{port} is taken by something that is not a Kafka broker")
        classpath = kafka_classpath()
        props = kafka_properties(settings)
        if not (KAFKA_DATA / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                java_cmd(
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        spawn(java_cmd(classpath, "kafka.Kafka", str(props)), KAFKA_LOG, KAFKA_PID)
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if read_pid(KAFKA_PID) is None:
            raise StackError(f"the Kafka broker exited during start-up:\n{log_tail(KAFKA_LOG)}")
        if asyncio.run(kafka_answers_metadata(settings.kafka_bootstrap, 2.0)):
            return "started"
        time.sleep(0.5)
    raise StackError(
        f"Kafka did not answer a metadata request at {settings.kafka_bootstrap} within "
        f"{READY_DEADLINE_S:.0f}s; log tail:\n{log_tail(KAFKA_LOG)}"
    )


# --- Redis ------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """redis-server from PATH, installing Debian's package if it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    print("stack: installing Debian's redis-server package ...", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "redis-server"]):
        result = subprocess.run(sudo + cmd, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr}")
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
    if read_pid(REDIS_PID) is None:
        if port_open(host, port):
            raise StackError(f"{host}:{port} is taken by something that is not Redis")
        binary = redis_server_binary()
        REDIS_DIR.mkdir(parents=True, exist_ok=True)
        spawn(
            [
                binary,
                "--bind",
                host,
                "--port",
                str(port),
                "--dir",
                str(REDIS_DIR),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            REDIS_LOG,
            REDIS_PID,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if read_pid(REDIS_PID) is None and not redis_answers(host, port):
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


# --- commands ---------------------------------------------------------------------------------


def stop(pid_file: Path, name: str) -> None:
    """Stop the process recorded in pid_file (TERM, then KILL after a grace period)."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        print(f"{name}: not started by this stack")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and read_pid(pid_file) is not None:
        time.sleep(0.2)
    if read_pid(pid_file) is not None:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print(f"{name}: stopped (pid {pid})")


def status(settings: Settings) -> bool:
    """Print whether each service answers; True when both do."""
    kafka_ok = asyncio.run(kafka_answers_metadata(settings.kafka_bootstrap, 3.0))
    redis_host, redis_port = settings.redis_host_port
    redis_ok = redis_answers(redis_host, redis_port)
    for name, ok, address, pid_file in (
        ("kafka", kafka_ok, settings.kafka_bootstrap, KAFKA_PID),
        ("redis", redis_ok, f"{redis_host}:{redis_port}", REDIS_PID),
    ):
        pid = read_pid(pid_file)
        owner = f"pid {pid}, started by this stack" if pid else "not started by this stack"
        print(f"{name}: {'up' if ok else 'DOWN'} at {address} ({owner})")
    return kafka_ok and redis_ok


def main(argv: list[str]) -> int:
    """Entry point: up, status or down."""
    command = argv[1] if len(argv) > 1 else "status"
    settings = Settings()
    STACK.mkdir(exist_ok=True)
    try:
        if command == "up" and settings.stack_redis == "cluster":
            print(f"redis cluster: {redis_cluster_up(settings)}", flush=True)
            print(f"kafka: {kafka_up(settings)} at {settings.kafka_bootstrap}", flush=True)
            return 0
        if command == "up":
            print(f"redis: {redis_up(settings)} at {settings.redis_url}", flush=True)
            print(f"kafka: {kafka_up(settings)} at {settings.kafka_bootstrap}", flush=True)
            return 0
        if command == "status" and settings.stack_redis == "cluster":
            return 0 if redis_cluster_status(settings) and status(settings) else 1
        if command == "status":
            return 0 if status(settings) else 1
        if command == "down":
            stop(KAFKA_PID, "kafka")
            stop(REDIS_PID, "redis")
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
