"""The tests' private brokers start whatever chance brings: a port taken between choosing it and
binding it is replaced (other runs share the machine)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.settings import Settings
from tests.reliability.helpers import PrivateKafka

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
