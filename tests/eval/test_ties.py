"""Ties: sections with identical text rank in one stable order (document id, then chunk ordinal) at a
site, in the router's merge and in the centralized baseline, so federated and centralized lists are
equal and two runs that add the chunks in another order give the same list (issue 20, item 7).

Real parts: packaged MiniLM, FAISS, SQLite with FTS5 and the in-memory keyword index, the real router
with sealed envelopes in process, the federation's exact term statistics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval._records import EvalDataset, EvalDoc, EvalQuery
from eval.embedding_cache import CachingEmbedder
from eval.federated_systems import FederatedSystem
from eval.runner import run_eval
from eval.site_systems import CentralizedSystem, SystemSetup
from indexes import ChunkDraft, DocumentEntry, SiteStore
from rag_fed.config import Settings
from rag_fed.embedders.base import Embedder
from rag_fed.site.search import rank_chunks

REPEATED = "Replace the hydraulic hose on the boom cylinder."
# Document ids out of both the sites' order and the order the documents are added in.
SITES = {
    "site-c": ["q-hose", "b-hose", "brake-1"],
    "site-a": ["z-hose", "m-hose", "engine-1"],
    "site-b": ["a-hose", "k-hose", "tyre-1"],
}
OTHER = {
    "brake-1": "Brake pads are replaced when worn below 3 mm.",
    "engine-1": "Change the engine oil every 500 hours.",
    "tyre-1": "Check the tyre pressure before each shift.",
}


def _dataset(order: list[str]) -> EvalDataset:
    corpus = [EvalDoc(doc_id, "", OTHER.get(doc_id, REPEATED)) for doc_id in order]
    queries = [
        EvalQuery("q1", "replace hydraulic hose", None, {"a-hose": 1}),
        EvalQuery("q2", "hydraulic hose on the boom", None, {"z-hose": 1}),
    ]
    return EvalDataset("ties", corpus, queries)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_identical_sections_rank_alike_federated_and_centralized(
    tmp_path: Path, packaged_embedder: Embedder, mode: str
) -> None:
    runs = []
    first = [d for docs in SITES.values() for d in docs]
    for run, order in enumerate((first, first[::-1])):
        # The second run adds the documents in another order (the centralized site gets other chunk ids).
        dataset = _dataset(order)
        sites = {site: [d for d in order if d in docs] for site, docs in SITES.items()}
        # As `ragfed eval run` does: one text, one vector (a batch's padding moves a vector by ~1e-7, which
        # would part sections that a central index and the sites embedded in different batches).
        documents = CachingEmbedder(packaged_embedder)
        setups = [
            SystemSetup(
                settings=Settings(data_dir=tmp_path / f"{run}-{name}"),
                embedder=packaged_embedder,
                index_embedder=documents,
                mode=mode,  # type: ignore[arg-type]
            )
            for name in ("c", "f")
        ]
        systems = [CentralizedSystem(setups[0]), FederatedSystem(setups[1])]
        try:
            result = run_eval(dataset, systems, k=4, progress=False, sites=sites, answers=False)
        finally:
            for system in systems:
                system.close()
        runs.append(result)
    hoses = sorted(d for docs in SITES.values() for d in docs if d.endswith("hose"))
    for result in runs:
        central, federated = result.systems
        for c, f in zip(central.queries, federated.queries, strict=True):
            assert c.doc_ids == f.doc_ids, (mode, c.query_id)
            # The six identical sections tie; the four kept are the first four by document id.
            assert c.doc_ids == hoses[:4], (mode, c.query_id)
        assert central.retrieval == federated.retrieval
    assert [q.doc_ids for q in runs[0].systems[0].queries] == [q.doc_ids for q in runs[1].systems[0].queries]


@pytest.mark.unit
def test_a_cut_through_a_tie_keeps_the_first_by_document_and_ordinal(tmp_path: Path) -> None:
    """Five chunks of one vector and one text, added so that the index's own order is the reverse of the
    key's: the best two are the two smallest (document id, ordinal), in dense and keyword ranking."""
    store = SiteStore.open(tmp_path / "site", "test@1", 4)
    try:
        vector = np.array([[1.0, 0.0, 0.0, 0.0]], np.float32)
        with store.transaction() as txn:
            for doc_id in ("e", "d", "c"):
                entry = DocumentEntry(doc_id, "src", "", "text", doc_id, doc_id)
                drafts = [ChunkDraft("hydraulic hose", 0)] + (
                    [ChunkDraft("hydraulic hose", 1)] if doc_id == "c" else []
                )
                txn.put_document(entry, drafts, np.repeat(vector, len(drafts), axis=0))
        chunks = {(c.doc_id, c.ordinal): c.chunk_id for c in store.docstore.get_chunks(range(1, 5))}
        expected = [chunks[("c", 0)], chunks[("c", 1)]]
        for mode in ("dense", "keyword", "hybrid"):
            ranked = rank_chunks(store, "hydraulic hose", vector[0], 2, mode)  # type: ignore[arg-type]
            assert [item.chunk_id for item in ranked] == expected, mode
    finally:
        store.close()
