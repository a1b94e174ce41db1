"""The tests' private brokers and Redis servers start whatever chance brings: a port taken between
choosing it and binding it is replaced (other runs share the machine)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.core.settings import Settings
from tests.support.private_servers import PrivateKafka, PrivateRedis

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_private_broker_whose_port_was_taken_starts_on_new_ports(
    stack: Settings, tmp_path: Path
) -> None:
    kafka = PrivateKafka(tmp_path)
    taken = kafka.port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        kafka.start()
        try:
            await kafka.wait_ready()
            assert kafka.port != taken
            assert "Address already in use" in kafka.log_path.read_text(errors="replace")
        finally:
            kafka.stop()


async def test_a_private_redis_whose_port_was_taken_starts_on_a_new_port_and_restarts_there(
    stack: Settings, tmp_path: Path
) -> None:
    server = PrivateRedis(tmp_path)
    taken = server.port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        server.start()
    try:
        assert server.port != taken
        await _ping(server)
        moved_to = server.port
        server.stop()
        server.start()
        assert server.port == moved_to, "a restart keeps its port"
        await _ping(server)
    finally:
        server.stop()


async def _ping(server: PrivateRedis) -> None:
    client = server.client()
    try:
        assert await client.ping()
    finally:
        await client.aclose()
