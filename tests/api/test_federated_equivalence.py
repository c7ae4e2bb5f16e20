"""All sites asked, one embedder, dense mode: the fused top-k equals one central index over the same chunks.

Why this holds (rag_fed/router/merge.py): each site returns its exact top-k by the inner product with
the gateway's query vector; any chunk of the global top-k is in its site's top-k, so sorting the union
by score reproduces the central top-k. The central index here ingests the same files; its vectors are
computed in other batches, so scores may differ in the last float bits, and only near-ties may swap.
"""

from __future__ import annotations

import time

import httpx
import pytest

from rag_fed.config import Settings
from rag_fed.embedders.base import Embedder
from rag_fed.site import Site
from tests.api.conftest import Federation, extra_site
from tests.api.corpus import SITES, write_corpus

pytestmark = pytest.mark.integration

QUESTIONS = [
    "How do I replace the mechanical seal?",
    "head pulley bearing overtemperature",
    "compressor pressure switch adjustment",
    "pump makes a noise like gravel",
    "how often should bearings be greased",
]
K = 5
TIE = 1e-4
GHOST_MANUAL = (
    "# Seal press\n\n## Mechanical seal\nThe mechanical seal press replaces a mechanical seal in a mechanical "
    "seal housing; replace the seal when the press leaks.\n"
)


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Site:
    root = tmp_path_factory.mktemp("central")
    settings = Settings(data_dir=root / "data")
    folders = [write_corpus(root, site_id) for site_id in SITES]
    Site.init("central", settings)
    site = Site.open("central", settings, embedder=packaged_embedder)
    assert not site.ingest(folders).failed
    yield site  # type: ignore[misc]
    site.close()


def test_fused_dense_top_k_equals_the_central_top_k(federation: Federation, central: Site) -> None:
    headers = {"Authorization": f"Bearer {federation.api_keys['evaluator']}"}
    for question in QUESTIONS:
        body = {"question": question, "k": K, "mode": "dense", "want_answer": False}
        response = httpx.post(f"{federation.gateway.url}/v1/query", json=body, headers=headers, timeout=120)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert {site["status"] for site in reply["sites"]} == {"answered"}
        federated = [(p["citation"]["doc_id"], p["text"], p["score"]) for p in reply["passages"]]
        centralised = [(p.citation.doc_id, p.text, p.score) for p in central.search(question, K, "dense")]
        assert len(federated) == len(centralised) == K
        for position, (fed, cen) in enumerate(zip(federated, centralised, strict=True)):
            assert fed[2] == pytest.approx(cen[2], abs=TIE), (question, position)
            if fed[:2] != cen[:2]:
                # Only a near-tie may swap places; the two lists must still hold the same chunks.
                assert abs(fed[2] - cen[2]) < TIE, (question, position, fed, cen)
        assert {f[:2] for f in federated} == {c[:2] for c in centralised}, question


def _query(federation: Federation, question: str, mode: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {federation.api_keys['evaluator']}"}
    body = {"question": question, "k": K, "mode": mode, "want_answer": False}
    response = httpx.post(f"{federation.gateway.url}/v1/query", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    reply: dict[str, object] = response.json()
    return reply


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_fused_keyword_and_hybrid_top_k_equal_the_central_top_k(
    federation: Federation, central: Site, mode: str
) -> None:
    """With the federation's term statistics (docs/term-statistics.md), which the gateway fetches from the
    site services at start, over HTTP and sealed, every site's BM25 is the central index's."""
    deadline = time.monotonic() + 60
    while (reply := _query(federation, QUESTIONS[0], mode))["term_stats"] != "global":
        assert time.monotonic() < deadline, f"the gateway never used the sites' term statistics: {reply['sites']}"
        time.sleep(0.5)
    for question in QUESTIONS:
        reply = _query(federation, question, mode)
        sites = reply["sites"]
        assert isinstance(sites, list) and {site["term_stats"] for site in sites} == {"global"}, sites
        passages = reply["passages"]
        assert isinstance(passages, list)
        federated = [(p["citation"]["doc_id"], p["text"], p["score"]) for p in passages]
        centralised = [(p.citation.doc_id, p.text, p.score) for p in central.search(question, K, mode)]  # type: ignore[arg-type]
        assert [f[2] for f in federated] == pytest.approx([c[2] for c in centralised], abs=TIE), question
        last = centralised[-1][2]
        assert {f[:2] for f in federated if f[2] > last + TIE} == {c[:2] for c in centralised if c[2] > last + TIE}


def test_a_removed_sites_term_statistics_leave_the_federations_at_once(
    federation: Federation, central: Site, packaged_embedder: Embedder
) -> None:
    """A site removed from the registry weighed in every site's BM25 until the next periodic refresh
    (5 minutes): keyword scores differed from the central index's although the same documents remained."""
    question = QUESTIONS[0]

    def keyword_scores() -> list[float]:
        reply = _query(federation, question, "keyword")
        passages = reply["passages"]
        assert isinstance(passages, list)
        return [float(p["score"]) for p in passages if p["citation"]["site_id"] != "ghost"]

    expected = [p.score for p in central.search(question, K, "keyword")]
    with extra_site(federation, packaged_embedder, "ghost", GHOST_MANUAL):
        deadline = time.monotonic() + 60
        while keyword_scores()[: len(expected)] == pytest.approx(expected, abs=TIE):
            assert time.monotonic() < deadline, "the new site's term statistics never joined the federation's"
            time.sleep(0.5)
    assert keyword_scores() == pytest.approx(expected, abs=TIE), "the removed site still weighs in"
