"""Dense replies without the text of the losers (``RoutingPolicy.text_share``, ``SiteQuery.text_k``): real
sites (SQLite, FAISS) of uneven sizes, their real responders and the real router, sealed both ways. The
result equals the one of replies with every passage's text, passage for passage; the candidates that
made the top k are fetched in a second sealed call, which counts in the bytes and cannot be replayed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_fed.crypto import EnvelopeOpener, KeyPair
from rag_fed.errors import ReplayedEnvelopeError
from rag_fed.protocol import SiteQuery
from rag_fed.router import FederatedResult, InProcessSiteClient, Router, RoutingPolicy
from tests.rag_fed.router.test_term_stats_federation import EMBEDDER, GATEWAY, QUESTIONS, Federation

pytestmark = pytest.mark.integration

K = 8


class Recording(InProcessSiteClient):
    """An in-process client that keeps every sealed query it sent."""

    def __init__(self, inner: InProcessSiteClient, handler: object) -> None:
        super().__init__(inner.site_id, handler)  # type: ignore[arg-type]
        self.sent: list[bytes] = []

    async def search(self, sealed: bytes, timeout_s: float) -> bytes:
        self.sent.append(sealed)
        return await super().search(sealed, timeout_s)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    federation = Federation(tmp_path)
    yield federation
    federation.close()


def _router(federation: Federation, text_share: float | None) -> tuple[Router, dict[str, Recording]]:
    clients = {
        site_id: Recording(client, federation.responders[site_id].handle)  # type: ignore[arg-type]
        for site_id, client in federation.router.clients.items()
    }
    keys = {site_id: KeyPair.load(site.layout.keys_dir).public_key for site_id, site in federation.sites.items()}
    policy = RoutingPolicy(text_share=text_share)
    router = Router(keys=federation.gateway_keys, gateway_id=GATEWAY, site_keys=keys, clients=list(clients.values()),
                    policy=policy)  # fmt: skip
    return router, clients


def _ask(router: Router, question: str) -> FederatedResult:
    vector = EMBEDDER.embed([question])[0]
    return asyncio.run(router.query(question, vector, EMBEDDER.model_version, k=K, mode="dense", want_answer=False))


@pytest.mark.parametrize("text_share", [0.1, 1.0])
def test_replies_without_the_losers_text_give_the_same_result_and_fewer_bytes(
    federation: Federation, text_share: float
) -> None:
    full, _ = _router(federation, None)
    cut, _ = _router(federation, text_share)
    fetches = bytes_full = bytes_cut = 0
    for question in QUESTIONS:
        expected, got = _ask(full, question), _ask(cut, question)
        assert got.passages == expected.passages, question
        assert all(p.text and p.citation.doc_id for p in got.passages)
        fetches += sum(site.fetched for site in got.sites)
        assert not any(site.fetched for site in expected.sites)
        bytes_full += expected.bytes_total
        bytes_cut += got.bytes_total
    assert fetches > 0  # the test saw the second call (every site sends one passage's text at 0.1)
    assert bytes_cut < bytes_full


def test_the_fetch_of_candidates_is_sealed_and_refused_when_replayed(federation: Federation) -> None:
    router, clients = _router(federation, 0.1)  # ceil(0.1 * 8 / 3) = 1 passage with text a site
    result = _ask(router, QUESTIONS[1])
    fetched = [site.site_id for site in result.sites if site.fetched]
    assert fetched
    site_id = fetched[0]
    first, second = clients[site_id].sent  # the search, then the fetch
    # Opened by a copy of the site's keys with a replay guard of its own (the site's saw them already).
    site_keys = KeyPair.load(federation.sites[site_id].layout.keys_dir)
    opener = EnvelopeOpener(site_keys, site_id, {GATEWAY: federation.gateway_keys.public_key})
    queries = [SiteQuery.from_bytes(opener.open_bytes(data)) for data in (first, second)]
    assert queries[0].text_k == 1 and queries[0].fetch is None
    assert queries[1].fetch and queries[1].text_k is None
    assert queries[1].request_id == queries[0].request_id  # one question, both sides' logs
    with pytest.raises(ReplayedEnvelopeError):
        federation.responders[site_id].handle(second)
