"""The gateway embeds the question only when the mode uses it: keyword search without an answer compares
no vectors (issue 20, item 5). A real site (MiniLM, FAISS, SQLite) behind the real router, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from api.gateway.keystore import KeyStore
from api.gateway.service import GatewayService
from connectors import Document, Section
from rag_fed.config import Settings
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.errors import InputError
from rag_fed.federation.registry import SiteRegistry
from rag_fed.protocol import SiteQuery
from rag_fed.router import InProcessSiteClient
from rag_fed.site import Site
from rag_fed.site.responder import ResponderSettings, SiteResponder
from tests.counting_embedder import CountingEmbedder

pytestmark = pytest.mark.integration


def test_keyword_search_without_an_answer_embeds_nothing(tmp_path: Path, packaged_embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    Site.init("north", settings)
    site = Site.open("north", settings, embedder=packaged_embedder)
    texts = ["The hydraulic pump cavitates when the strainer is blocked.", "Brake pads wear below 3 mm."]
    site.ingest_documents(
        "docs", [(f"d{n}", Document("docs", "", "manual", (Section(text=t),))) for n, t in enumerate(texts)]
    )
    gateway = GatewaySettings.model_validate({"home": tmp_path / "gateway"})
    keys = KeyPair.generate()
    registry = SiteRegistry(gateway.registry_path)
    counted = CountingEmbedder(packaged_embedder)
    service = GatewayService(
        gateway, keys=keys, registry=registry, keystore=KeyStore(gateway.database), embedder=counted
    )
    site_keys = KeyPair.load(site.layout.keys_dir)
    registry.register("north", "http://127.0.0.1:9", site_keys.public_key_text)
    service._urls = {"north": "http://127.0.0.1:9"}  # the site is called in process, not at that URL
    responder = SiteResponder(site, ResponderSettings(gateway_id=gateway.gateway_id), site_keys, keys.public_key)
    service.router.set_clients([InProcessSiteClient("north", responder.handle)])
    try:
        keyword = asyncio.run(service.retrieve("pump strainer", k=2, mode="keyword", want_answer=False))
        assert counted.texts == []
        assert [p.citation.doc_id for p in keyword.passages] == ["d0"]
        dense = asyncio.run(service.retrieve("pump strainer", k=2, mode="dense", want_answer=False))
        answered = asyncio.run(service.retrieve("pump strainer", k=2, mode="keyword", want_answer=True))
        assert counted.texts == ["pump strainer", "pump strainer"]  # dense search, and evidence for an answer
        assert dense.passages[0].citation.doc_id == "d0" and answered.evidence
    finally:
        site.close()


@pytest.mark.unit
def test_only_keyword_search_without_an_answer_goes_without_an_embedding() -> None:
    query = SiteQuery(question="pump", embedding=None, embedder_version="v", mode="keyword", want_answer=False)
    assert b"embedding" not in query.to_bytes()
    assert SiteQuery.from_bytes(query.to_bytes()).embedding is None
    query.require_dim(384)  # nothing to compare
    for mode, want_answer in (("dense", False), ("hybrid", False), ("keyword", True)):
        body = SiteQuery(question="pump", embedding=[1.0], embedder_version="v").to_bytes()
        body = body.replace(b'"embedding":"AACAPw",', b"").replace(b'"mode":"hybrid"', f'"mode":"{mode}"'.encode())
        body = body.replace(b'"want_answer":true', f'"want_answer":{str(want_answer).lower()}'.encode())
        with pytest.raises(InputError, match="needs the question's embedding"):
            SiteQuery.from_bytes(body)
