"""``rank_chunks``: hybrid with the two rankings run concurrently ranks exactly as run one after the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import faiss
import numpy as np
import pytest
from numpy.typing import NDArray

from indexes import ChunkDraft, DocumentEntry, SiteStore
from rag_fed.site import search
from rag_fed.site.search import HYBRID_DEPTH, rank_chunks

pytestmark = pytest.mark.unit

DIM = 16
WORDS = [
    "pump",
    "seal",
    "bearing",
    "valve",
    "impeller",
    "gasket",
    "motor",
    "belt",
    "pulley",
    "flange",
    "bolt",
    "torque",
    "leak",
    "noise",
    "wear",
]
faiss.omp_set_num_threads(1)  # two shared cores


@pytest.fixture(scope="module", params=["in-memory", "fts5"])
def store(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SiteStore]:
    """A store whose keyword ranker is fixed for the whole module: the in-memory index, built before the
    first query, or FTS5. Left to itself, the first keyword query would start the in-memory build and the
    ranker would change (FTS5 with pruning, then the index) between two calls being compared."""
    rng = np.random.default_rng(7)
    store = SiteStore.open(tmp_path_factory.mktemp("site"), "test@1", DIM)
    with store.transaction() as txn:
        for doc in range(60):
            texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) for _ in range(5)]
            vectors = rng.standard_normal((5, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            entry = DocumentEntry(f"d{doc}", "src", f"Doc {doc}", "text", str(doc), str(doc))
            txn.put_document(entry, [ChunkDraft(text, i) for i, text in enumerate(texts)], vectors)
    if request.param == "fts5":
        store.docstore.keyword_mirror = False
    else:
        assert store.docstore.start_keyword_index(wait=None)
    yield store
    store.close()


def queries(n: int, seed: int = 3) -> list[tuple[str, NDArray[np.float32]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        vector = rng.standard_normal(DIM).astype(np.float32)
        out.append((" ".join(rng.choice(WORDS, size=int(rng.integers(1, 6)))), vector / np.linalg.norm(vector)))
    return out


@pytest.mark.parametrize("k", [1, 10, HYBRID_DEPTH + 20])
def test_concurrent_hybrid_equals_sequential(store: SiteStore, k: int) -> None:
    for text, vector in queries(25):
        concurrent = rank_chunks(store, text, vector, k, "hybrid")
        sequential = rank_chunks(store, text, vector, k, "hybrid", concurrent=False)
        assert concurrent == sequential
        assert len(concurrent) == min(k, store.count)
        if k >= 10:  # both rankings reach the top ten
            assert any(item.keyword_score is not None for item in concurrent)
            assert any(item.dense_score is not None for item in concurrent)


def test_many_callers_at_once_get_the_sequential_rankings(store: SiteStore) -> None:
    work = queries(40, seed=11)
    expected = [rank_chunks(store, text, vector, 10, "hybrid", concurrent=False) for text, vector in work]
    with ThreadPoolExecutor(max_workers=8) as callers:
        got = list(callers.map(lambda q: rank_chunks(store, q[0], q[1], 10, "hybrid"), work))
    assert got == expected


def test_the_component_scores_are_those_of_each_ranking(store: SiteStore) -> None:
    text, vector = queries(1, seed=5)[0]
    dense = {item.chunk_id: item.score for item in rank_chunks(store, text, vector, HYBRID_DEPTH, "dense")}
    keyword = {item.chunk_id: item.score for item in rank_chunks(store, text, None, HYBRID_DEPTH, "keyword")}
    for item in rank_chunks(store, text, vector, 10, "hybrid"):
        assert item.dense_score == dense.get(item.chunk_id)
        assert item.keyword_score == keyword.get(item.chunk_id)


def test_one_pool_serves_every_query(store: SiteStore) -> None:
    text, vector = queries(1)[0]
    rank_chunks(store, text, vector, 5, "hybrid")
    pool = search._keyword_pool()
    for text, vector in queries(5):
        rank_chunks(store, text, vector, 5, "hybrid")
    assert search._keyword_pool() is pool
    assert pool._max_workers == search.KEYWORD_WORKERS
    names = {thread.name for thread in threading.enumerate() if thread.name.startswith("ragfed-keyword")}
    assert 1 <= len(names) <= search.KEYWORD_WORKERS


class FailingStore:
    """Logic test double: a dense or keyword ranking that fails, the keyword one slowly."""

    def __init__(self, fail_dense: bool, fail_keyword: bool) -> None:
        self.fail_dense, self.fail_keyword = fail_dense, fail_keyword
        self.keyword_finished = threading.Event()
        self.docstore = self  # ties are ordered by the chunks' document ids: chunk n is document dn

    def get_chunks(self, chunk_ids: list[int]) -> list[SimpleNamespace]:
        return [SimpleNamespace(chunk_id=cid, doc_id=f"d{cid}", ordinal=0) for cid in chunk_ids]

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        if self.fail_dense:
            raise RuntimeError("dense failed")
        return np.array([[0.9, 0.5]], np.float32), np.array([[1, 2]], np.int64)

    def keyword_search(self, query: str, k: int) -> list[tuple[int, float]]:
        time.sleep(0.05)
        self.keyword_finished.set()
        if self.fail_keyword:
            raise RuntimeError("keyword failed")
        return [(2, 3.0), (3, 1.0)]


def test_a_failing_dense_ranking_waits_for_the_keyword_one_then_raises() -> None:
    fake = FailingStore(fail_dense=True, fail_keyword=False)
    with pytest.raises(RuntimeError, match="dense failed"):
        rank_chunks(fake, "q", np.zeros(2, np.float32), 5, "hybrid")  # type: ignore[arg-type]
    assert fake.keyword_finished.is_set()


def test_a_failing_keyword_ranking_raises_in_the_caller() -> None:
    fake = FailingStore(fail_dense=False, fail_keyword=True)
    with pytest.raises(RuntimeError, match="keyword failed"):
        rank_chunks(fake, "q", np.zeros(2, np.float32), 5, "hybrid")  # type: ignore[arg-type]


def test_fusion_of_the_fake_rankings() -> None:
    fake = FailingStore(fail_dense=False, fail_keyword=False)
    ranked = rank_chunks(fake, "q", np.zeros(2, np.float32), 5, "hybrid")  # type: ignore[arg-type]
    # Scaled: dense 1 -> 1.0, 2 -> 0.0; keyword 2 -> 1.0, 3 -> 0.0. Chunks 1 and 2 tie at 0.5 (d1 before d2).
    assert [(item.chunk_id, item.score) for item in ranked] == [(1, 0.5), (2, 0.5), (3, 0.0)]
    assert ranked[1].dense_score == pytest.approx(0.5)
    assert ranked[1].keyword_score == 3.0


def test_dense_and_hybrid_need_the_vector(store: SiteStore) -> None:
    for mode in ("dense", "hybrid"):
        with pytest.raises(ValueError, match="needs the query vector"):
            rank_chunks(store, "pump", None, 5, mode)  # type: ignore[arg-type]


def test_ties_break_by_document_then_ordinal_through_the_docstore_protocol(store: SiteStore) -> None:
    """``break_ties`` reads only the ``DocStore`` protocol: the serving store's docstore orders a run of
    equal scores by (document id, chunk ordinal), and leaves untied chunks where they are."""
    ids, _ = next(store.docstore.iter_vectors())
    chunks = store.docstore.get_chunks([int(cid) for cid in ids[:4]])
    assert len({chunk.doc_id for chunk in chunks}) > 1 or len({chunk.ordinal for chunk in chunks}) > 1
    by_key = sorted(chunks, key=lambda chunk: (chunk.doc_id, chunk.ordinal))
    ranking = [(chunk.chunk_id, 0.5) for chunk in reversed(by_key)] + [(by_key[0].chunk_id + 10_000, 0.1)]
    ordered = search.break_ties(store.docstore, ranking)
    assert [cid for cid, _ in ordered[:4]] == [chunk.chunk_id for chunk in by_key]
    assert ordered[-1] == ranking[-1]
