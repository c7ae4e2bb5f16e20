"""Queries to sites of one site host go out in one request; an older host gets them one by one."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from rag_fed.errors import SiteBusyError, SiteUnavailableError
from rag_fed.router.clients import HttpSiteClient, http_site_clients
from rag_fed.router.host_batch import host_of
from rag_fed.wire.batch import BatchPart, decode_parts, encode_parts
from rag_fed.wire.paths import HOST_QUERY_PATH, QUERY_PATH

pytestmark = pytest.mark.unit

ORIGIN = "http://host-a:8101"
URLS = {site: f"{ORIGIN}/sites/{site}" for site in ("a", "b", "c")}


def _error(kind: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": "why"}}).encode()


class FakeHost:
    """A site host that echoes each query as its reply (``reply:<query>``); ``batches=False``: an older
    host, whose batch path is 404."""

    def __init__(self, batches: bool = True, refuse: dict[str, BatchPart] | None = None) -> None:
        self.batches, self.refuse, self.paths = batches, refuse or {}, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path == HOST_QUERY_PATH:
            if not self.batches:
                return httpx.Response(404, json={"error": {"type": "NotFoundError", "message": "Not Found"}})
            parts = decode_parts(request.content)
            replies = [self.refuse.get(p.site_id, BatchPart(p.site_id, b"reply:" + p.body)) for p in parts]
            return httpx.Response(200, content=encode_parts(reversed(replies)))  # in the order they finish
        return httpx.Response(200, content=b"reply:" + request.content)


async def _ask(host: FakeHost, sites: list[str]) -> list[bytes | BaseException]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(host)) as http:
        clients = {client.site_id: client for client in http_site_clients(URLS, http)}
        first = await asyncio.gather(
            *(clients[site].search(f"q-{site}".encode(), 5) for site in sites), return_exceptions=True
        )
        if not host.batches:  # the host said no once: the next round goes straight to the sites
            await asyncio.gather(*(clients[site].search(b"again", 5) for site in sites))
        return first


def test_one_request_carries_the_queries_of_a_hosts_sites() -> None:
    host = FakeHost()
    assert asyncio.run(_ask(host, ["a", "b", "c"])) == [b"reply:q-a", b"reply:q-b", b"reply:q-c"]
    assert host.paths == [HOST_QUERY_PATH]


def test_each_sites_error_reaches_its_own_caller_only() -> None:
    refuse = {
        "a": BatchPart("a", _error("WrongRecipientError"), 421),
        "b": BatchPart("b", _error("SiteBusyError"), 429, 7),
    }
    got = asyncio.run(_ask(FakeHost(refuse=refuse), ["a", "b", "c"]))
    assert isinstance(got[0], SiteUnavailableError) and "HTTP 421: WrongRecipientError" in str(got[0])
    assert isinstance(got[1], SiteBusyError) and got[1].retry_after_s == 7
    assert got[2] == b"reply:q-c"


def test_an_older_host_gets_one_request_per_site() -> None:
    host = FakeHost(batches=False)
    assert asyncio.run(_ask(host, ["a", "b"])) == [b"reply:q-a", b"reply:q-b"]
    site_paths = [f"/sites/{site}{QUERY_PATH}" for site in ("a", "b")]
    assert host.paths[0] == HOST_QUERY_PATH and sorted(host.paths[1:3]) == site_paths
    assert sorted(host.paths[3:]) == site_paths, "no second batch to a host that refused one"


def test_a_single_query_goes_alone() -> None:
    host = FakeHost()
    assert asyncio.run(_ask(host, ["b"])) == [b"reply:q-b"]
    assert host.paths == [f"/sites/b{QUERY_PATH}"]


def test_only_sites_sharing_a_host_share_a_batch() -> None:
    urls = {**URLS, "solo": "http://plant-x:8101", "lone": "http://host-b:8101/sites/lone"}
    http = httpx.AsyncClient()
    clients = {client.site_id: client for client in http_site_clients(urls, http)}
    batchers = {site: client._batcher for site, client in clients.items()}
    assert batchers["a"] is not None and batchers["a"] is batchers["b"] is batchers["c"]
    assert batchers["solo"] is None and batchers["lone"] is None
    assert all(isinstance(client, HttpSiteClient) for client in clients.values())
    assert host_of("http://h:1/sites/a") == ("http://h:1", "a") and host_of("http://h:1/a") is None
