"""Both ``SiteClient``s pass ``rag_fed.testing.site_client.SiteClientContract`` against one real site (MiniLM,
FAISS, SQLite): ``InProcessSiteClient`` calling its responder, ``HttpSiteClient`` calling its site service
(uvicorn on loopback, in this process)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from nacl.public import PublicKey

from api.site_service import create_site_app, open_responder
from api.site_service.open_site import ServiceResponder
from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.router import HttpSiteClient, InProcessSiteClient
from rag_fed.site import Document, Section, Site
from rag_fed.testing.site_client import SiteClientContract, SiteUnderTest
from tests.api.procs import free_port, wait_up

pytestmark = pytest.mark.integration

SITE_ID = "north"
TEXTS = {
    "pump": "The hydraulic pump cavitates when the suction strainer is blocked; clean the strainer.",
    "brakes": "Replace the brake pads when they wear below 3 mm.",
}


@dataclass(frozen=True)
class _Site:
    responder: ServiceResponder
    site_key: PublicKey
    gateway_keys: KeyPair
    url: str


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[_Site]:
    root = tmp_path_factory.mktemp("site_client")
    core = Settings(data_dir=root / "data")
    Site.init(SITE_ID, core)
    with Site.open(SITE_ID, core, embedder=packaged_embedder) as site:
        site.ingest_documents(
            "docs",
            [(doc_id, Document("docs", doc_id, "manual", (Section(text=text),))) for doc_id, text in TEXTS.items()],
        )
    gateway_keys = KeyPair.generate()
    settings = SiteServiceSettings(site_id=SITE_ID, gateway_public_key=gateway_keys.public_key_text)
    responder = open_responder(settings, core, embedder=packaged_embedder)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_site_app(responder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{url}/health")
        yield _Site(responder, KeyPair.load(responder.site.layout.keys_dir).public_key, gateway_keys, url)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        responder.site.close()


def _under_test(real_site: _Site, client: InProcessSiteClient | HttpSiteClient) -> SiteUnderTest:
    return SiteUnderTest(
        client=client,
        site_id=SITE_ID,
        site_key=real_site.site_key,
        gateway_keys=real_site.gateway_keys,
        gateway_id=real_site.responder.settings.gateway_id,
        question="suction strainer",
        doc_id="pump",
    )


class TestInProcessSiteClient(SiteClientContract):
    @pytest.fixture
    def site(self, real_site: _Site) -> Iterator[SiteUnderTest]:
        responder = real_site.responder
        yield _under_test(real_site, InProcessSiteClient(SITE_ID, responder.handle, responder.sketch))


class TestHttpSiteClient(SiteClientContract):
    @pytest.fixture
    def site(self, real_site: _Site) -> Iterator[SiteUnderTest]:
        # no kept-alive connections: each test runs its calls in an event loop of its own
        http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0))
        yield _under_test(real_site, HttpSiteClient(SITE_ID, real_site.url, http))
        asyncio.run(http.aclose())
