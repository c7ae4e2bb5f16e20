"""A site host: two sites in one site-service process, behind a real gateway, each with its own keys,
admin keys and egress policy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from api.apikeys import issue_key
from api.gateway.keystore import KeyStore, Role
from api.site_service.settings import ADMIN_KEYS_FILE
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.embedders.base import Embedder
from rag_fed.errors import SiteUnavailableError
from rag_fed.federation import SiteRegistry
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.clients import http_site_clients
from rag_fed.site.responder import REPLAY_JOURNAL
from rag_fed.wire.paths import HOST_QUERY_PATH
from tests.api.conftest import ingest_site, start_gateway, write_gateway_config
from tests.api.corpus import write_corpus
from tests.api.procs import Service, free_port, service_env, start_service, wait_healthy

pytestmark = pytest.mark.integration

HOSTED = ("north", "south")
HOST_CONFIG = """
gateway_key_file = "{gateway_key}"
egress = "passages"

[[sites]]
site_id = "north"

[[sites]]
site_id = "south"
egress = "answer"
"""


@dataclass
class HostedFederation:
    host: Service
    gateway: Service
    data_dir: Path
    gateway_keys: KeyPair
    site_keys: dict[str, KeyPair]
    admin_keys: dict[str, str]
    engineer_key: str

    def site_url(self, site_id: str) -> str:
        return f"{self.host.url}/sites/{site_id}"


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[HostedFederation]:
    root = tmp_path_factory.mktemp("site-host")
    data_dir = root / "data"
    admin_keys: dict[str, str] = {}
    for site_id in HOSTED:
        ingest_site(Settings(data_dir=data_dir), site_id, packaged_embedder, write_corpus(root, site_id))
        admin = issue_key()
        (data_dir / site_id / ADMIN_KEYS_FILE).write_text(f"{admin.key_id} {admin.key_hash}\n")
        admin_keys[site_id] = admin.key
    home = root / "gateway"
    gateway_settings = GatewaySettings(home=home)
    gateway_keys = KeyPair.generate()
    gateway_keys.save(gateway_settings.keys_dir)
    config = root / "host.toml"
    config.write_text(HOST_CONFIG.format(gateway_key=gateway_settings.public_key_file))
    port = free_port()
    args = ["api.site_service", "--config", str(config), "--data-dir", str(data_dir), "--port", str(port)]
    host = start_service("site-host", args, port, root, service_env())
    services = [host]
    try:
        wait_healthy([host])
        registry = SiteRegistry(gateway_settings.registry_path)
        site_keys = {site_id: KeyPair.load(data_dir / site_id / "keys") for site_id in HOSTED}
        for site_id in HOSTED:
            registry.register(site_id, f"{host.url}/sites/{site_id}", site_keys[site_id].public_key_text)
        gateway = start_gateway(root, write_gateway_config(root / "gateway.toml", home, deadline_s=30))
        services.append(gateway)
        wait_healthy([gateway])
        engineer_key = KeyStore(gateway_settings.database).create(Role.ENGINEER, None).key
        yield HostedFederation(host, gateway, data_dir, gateway_keys, site_keys, admin_keys, engineer_key)
    finally:
        for service in services:
            service.stop()


def _sealed_query(fed: HostedFederation, to: str) -> bytes:
    version = httpx.get(f"{fed.site_url(to)}/health").json()["embedder_version"]
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    query = SiteQuery(question="mechanical seal", embedding=vector, k=3, embedder_version=version, want_answer=False)
    return seal(
        query.to_bytes(),
        sender=fed.gateway_keys,
        sender_id="gateway",
        recipient_id=to,
        recipient_key=fed.site_keys[to].public_key,
    ).to_bytes()


def test_the_host_and_each_site_answer_health(hosted: HostedFederation) -> None:
    host = httpx.get(f"{hosted.host.url}/health").json()
    assert host["status"] == "ok" and set(host["sites"]) == set(HOSTED)
    for site_id in HOSTED:
        health = httpx.get(f"{hosted.site_url(site_id)}/health").json()
        assert health["site_id"] == site_id and health["embedder_version"] == host["sites"][site_id]
    missing = httpx.get(f"{hosted.host.url}/sites/west/health")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFoundError"


def test_both_sites_answer_through_a_real_gateway_each_under_its_own_egress(hosted: HostedFederation) -> None:
    body = {"question": "How do I replace the mechanical seal?", "want_answer": False, "k": 8, "mode": "keyword"}
    headers = {"Authorization": f"Bearer {hosted.engineer_key}"}
    response = httpx.post(f"{hosted.gateway.url}/v1/query", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    result = response.json()
    assert {site["site_id"]: site["status"] for site in result["sites"]} == dict.fromkeys(HOSTED, "answered")
    by_site: dict[str, list[str]] = {}
    for passage in result["passages"]:
        by_site.setdefault(passage["citation"]["site_id"], []).append(passage["text"])
    assert by_site.get("north") and all(by_site["north"]), "north lets its passages out"
    assert not any(by_site.get("south", [])), "south lets no passage text out (egress 'answer')"


def test_each_site_opens_only_envelopes_sealed_to_it(hosted: HostedFederation) -> None:
    to_north = _sealed_query(hosted, "north")
    wrong = httpx.post(f"{hosted.site_url('south')}/v1/site/query", content=to_north, timeout=60)
    assert wrong.status_code == 421 and wrong.json()["error"]["type"] == "WrongRecipientError"
    right = httpx.post(f"{hosted.site_url('north')}/v1/site/query", content=to_north, timeout=60)
    assert right.status_code == 200, right.text
    opener = EnvelopeOpener(hosted.gateway_keys, "gateway", {"north": hosted.site_keys["north"].public_key})
    reply = SiteReply.from_bytes(opener.open_bytes(right.content))
    assert reply.site_id == "north" and reply.status == "answered"
    assert reply.egress == "passages" and reply.passages and all(p.text for p in reply.passages)
    to_south = httpx.post(f"{hosted.site_url('south')}/v1/site/query", content=_sealed_query(hosted, "south"))
    opener = EnvelopeOpener(hosted.gateway_keys, "gateway", {"south": hosted.site_keys["south"].public_key})
    south = SiteReply.from_bytes(opener.open_bytes(to_south.content))
    assert south.egress == "answer" and south.passages, "the same process applies south's own policy"
    assert not any(p.text for p in south.passages)
    # Each site keeps its own replay journal, in its own folder.
    assert all((hosted.data_dir / site_id / REPLAY_JOURNAL).exists() for site_id in HOSTED)


def test_admin_keys_are_per_site(hosted: HostedFederation) -> None:
    for site_id, other in (("north", "south"), ("south", "north")):
        url = f"{hosted.site_url(site_id)}/v1/admin/documents"
        own = httpx.get(url, headers={"Authorization": f"Bearer {hosted.admin_keys[site_id]}"}, timeout=30)
        assert own.status_code == 200 and own.json(), own.text
        assert all(doc["doc_id"].startswith(site_id) for doc in own.json())
        foreign = httpx.get(url, headers={"Authorization": f"Bearer {hosted.admin_keys[other]}"}, timeout=30)
        assert foreign.status_code == 401 and foreign.json()["error"]["type"] == "AuthError"
    audit = httpx.get(
        f"{hosted.site_url('south')}/v1/admin/audit",
        headers={"Authorization": f"Bearer {hosted.admin_keys['south']}"},
        timeout=30,
    ).json()
    assert any(entry["path"] == "/v1/admin/documents" and entry["status"] == 401 for entry in audit), (
        "the refused foreign key is in south's own audit log, under the site's own path"
    )


def test_one_batched_request_reaches_both_sites_each_opening_only_its_own(hosted: HostedFederation) -> None:
    urls = {site_id: hosted.site_url(site_id) for site_id in HOSTED}
    to_north, to_south = _sealed_query(hosted, "north"), _sealed_query(hosted, "south")

    async def ask(bodies: dict[str, bytes]) -> tuple[list[bytes | BaseException], list[str]]:
        paths: list[str] = []

        async def note(request: httpx.Request) -> None:
            paths.append(request.url.path)

        async with httpx.AsyncClient(event_hooks={"request": [note]}) as http:
            clients = {client.site_id: client for client in http_site_clients(urls, http)}
            replies = await asyncio.gather(
                *(clients[site].search(body, 30) for site, body in bodies.items()), return_exceptions=True
            )
        return replies, paths

    replies, paths = asyncio.run(ask({"north": to_north, "south": to_south}))
    assert paths == [HOST_QUERY_PATH], "one request for both sites"
    for site_id, reply in zip(HOSTED, replies, strict=True):
        assert isinstance(reply, bytes), reply
        opener = EnvelopeOpener(hosted.gateway_keys, "gateway", {site_id: hosted.site_keys[site_id].public_key})
        assert SiteReply.from_bytes(opener.open_bytes(reply)).site_id == site_id
    # An envelope sealed to north in south's part is refused by south alone; north's part still answers.
    replies, _ = asyncio.run(ask({"north": _sealed_query(hosted, "north"), "south": _sealed_query(hosted, "north")}))
    assert isinstance(replies[0], bytes)
    assert isinstance(replies[1], SiteUnavailableError) and "HTTP 421: WrongRecipientError" in str(replies[1])
