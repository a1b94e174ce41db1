"""What one test or benchmark run needs of its own on a shared machine: names and ports."""

from __future__ import annotations

import contextlib
import socket
import uuid
from typing import Any

from app.core.settings import Settings


def isolated(settings: Settings, label: str = "t", **overrides: Any) -> Settings:
    """A copy of settings with topics, consumer group and Redis prefix unique to this run."""
    tag = f"{label}{uuid.uuid4().hex[:10]}"
    topics = {  # topic_dead_letters -> <tag>.dead-letters
        name: f"{tag}.{name.removeprefix('topic_').replace('_', '-')}"
        for name in Settings.topic_settings()
    }
    return settings.model_copy(
        update={
            **topics,
            "app_id": f"clout-{tag}",
            "redis_key_prefix": f"clout-{tag}",
            **overrides,
        }
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: each socket stays bound until all are chosen, so
    the kernel cannot hand the same port out twice (separate `free_port` calls can repeat)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
