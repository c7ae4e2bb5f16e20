"""The breaker over real HTTP on loopback: a site that takes the request and is slow stays asked; a port
that refuses connections is a dead site and its breaker opens."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rag_fed.crypto import KeyPair
from rag_fed.router import FederatedResult, HttpSiteClient, Router, RoutingPolicy
from tests.rag_fed.router.fakes import GATEWAY, VERSION, unit_vector

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nobody listens on it once the socket is closed


async def _queries(count: int, deadline_s: float) -> list[FederatedResult]:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # takes the request...
        await asyncio.sleep(30)  # ...and is busy (a local model answering on a small CPU)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    slow_port = server.sockets[0].getsockname()[1]
    clients = [
        HttpSiteClient("slow", f"http://127.0.0.1:{slow_port}"),
        HttpSiteClient("dead", f"http://127.0.0.1:{_closed_port()}"),
    ]
    router = Router(
        keys=KeyPair.generate(),
        gateway_id=GATEWAY,
        site_keys={"slow": KeyPair.generate().public_key, "dead": KeyPair.generate().public_key},
        clients=clients,
        policy=RoutingPolicy(deadline_s=deadline_s, failure_threshold=2, cooldown_s=60),
    )
    try:
        return [await router.query("pump seal leaks?", unit_vector(), VERSION, k=3) for _ in range(count)]
    finally:
        server.close()
        for client in clients:
            await client.aclose()


def test_slow_site_stays_asked_and_refusing_site_opens_its_breaker() -> None:
    results = asyncio.run(_queries(4, deadline_s=0.3))
    slow = [next(s for s in result.sites if s.site_id == "slow") for result in results]
    dead = [next(s for s in result.sites if s.site_id == "dead") for result in results]
    assert [s.status for s in slow] == ["timed_out"] * 4, [s.error for s in slow]
    assert [s.status for s in dead] == ["failed", "failed", "skipped", "skipped"], [s.error for s in dead]
    assert "circuit open" in (dead[2].error or "")
