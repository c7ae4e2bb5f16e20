"""Term counts of a store and BM25 with a federation's counts: three stores of uneven sizes, scored with
their summed counts, rank as one store holding all their chunks, through deletes and re-ingests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexes import SQLiteDocStore
from indexes.keyword_index import CorpusStats
from indexes.term_counts import QueryTerms, TermCounts
from tests.indexes.test_keyword_mirror import put, queries, random_text

pytestmark = pytest.mark.unit

SIZES = (4, 25, 70)  # documents per site: uneven on purpose
K = 10


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[list[SQLiteDocStore], SQLiteDocStore]]:
    sites = [SQLiteDocStore(tmp_path / f"site-{i}.sqlite3", dim=4) for i in range(len(SIZES))]
    central = SQLiteDocStore(tmp_path / "central.sqlite3", dim=4)
    yield sites, central
    for store in [*sites, central]:
        store.close()


def _fill(sites: list[SQLiteDocStore], central: SQLiteDocStore, rng: np.random.Generator) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    for number, (store, size) in enumerate(zip(sites, SIZES, strict=True)):
        for doc in range(size):
            doc_id = f"s{number}-d{doc}"
            texts[doc_id] = [random_text(rng) for _ in range(int(rng.integers(1, 4)))]
            put(store, doc_id, texts[doc_id], title=f"Manual {doc % 3}", section=f"part {doc % 5}")
            put(central, doc_id, texts[doc_id], title=f"Manual {doc % 3}", section=f"part {doc % 5}")
    return texts


def _chunk_key(store: SQLiteDocStore, chunk_id: int) -> tuple[str, int]:
    chunk = store.get_chunks([chunk_id])[0]
    return chunk.doc_id, chunk.ordinal


def _federation_stats(counts: list[TermCounts], terms: list[str]) -> CorpusStats:
    return CorpusStats(
        rows=sum(c.chunks for c in counts),
        tokens=float(sum(c.tokens for c in counts)),
        frequencies={term: sum(c.frequencies.get(term, 0) for c in counts) for term in terms},
    )


def _assert_federated_equals_central(sites: list[SQLiteDocStore], central: SQLiteDocStore, texts: list[str]) -> None:
    for store in [*sites, central]:
        assert store.start_keyword_index(wait=30)
    counts = [store.term_counts() for store in sites]
    tokenizer = QueryTerms()
    for text in texts:
        stats = _federation_stats(counts, tokenizer.terms(text))
        merged: list[tuple[float, tuple[str, int]]] = []
        for store in sites:
            ranking = store.keyword_ranking(text, K, stats=stats)
            assert ranking.global_stats, text
            merged += [(score, _chunk_key(store, cid)) for cid, score in ranking.hits]
        merged = sorted(merged, key=lambda item: -item[0])[:K]
        centralised = [(score, _chunk_key(central, cid)) for cid, score in central.keyword_search(text, K)]
        assert [s for s, _ in merged] == pytest.approx([s for s, _ in centralised], rel=1e-9), text
        if centralised:  # the same chunks, except where a tie at the cut keeps other members
            last = centralised[-1][0]
            assert {key for s, key in merged if s > last * (1 + 1e-9)} == {
                key for s, key in centralised if s > last * (1 + 1e-9)
            }, text
    tokenizer.close()


def test_summed_counts_equal_the_central_counts(stores: tuple[list[SQLiteDocStore], SQLiteDocStore]) -> None:
    sites, central = stores
    _fill(sites, central, np.random.default_rng(5))
    counts = [store.term_counts() for store in sites]
    whole = central.term_counts()
    assert sum(c.chunks for c in counts) == whole.chunks
    assert tuple(map(sum, zip(*(c.column_tokens for c in counts), strict=True))) == whole.column_tokens
    summed: dict[str, int] = {}
    for c in counts:
        for term, n in c.frequencies.items():
            summed[term] = summed.get(term, 0) + n
    assert summed == dict(whole.frequencies)


def test_federated_keyword_scores_equal_one_central_index_through_deletes_and_reingests(
    stores: tuple[list[SQLiteDocStore], SQLiteDocStore],
) -> None:
    sites, central = stores
    rng = np.random.default_rng(11)
    _fill(sites, central, rng)
    probe = queries(rng, 40)
    _assert_federated_equals_central(sites, central, probe)
    # Deletes at two sites, a re-ingest with new text at the third: counts and versions follow.
    before = [store.keyword_seq for store in sites]
    for doc_id in ("s1-d3", "s2-d10", "s2-d11"):
        store = sites[int(doc_id[1])]
        with store.transaction() as txn:
            txn.delete_document(doc_id)
        with central.transaction() as txn:
            txn.delete_document(doc_id)
    new_texts = [random_text(rng) for _ in range(3)]
    put(sites[0], "s0-d1", new_texts, title="Manual 1", section="part 1")
    put(central, "s0-d1", new_texts, title="Manual 1", section="part 1")
    assert all(after > was for after, was in zip((s.keyword_seq for s in sites), before, strict=True))
    _assert_federated_equals_central(sites, central, probe)


def test_own_counts_differ_from_the_central_ranking(stores: tuple[list[SQLiteDocStore], SQLiteDocStore]) -> None:
    """What the test above would miss if the federation's counts were not applied: the sites' own BM25
    does not give the central scores."""
    sites, central = stores
    _fill(sites, central, np.random.default_rng(5))
    differing = 0
    for text in queries(np.random.default_rng(2), 20):
        own = sorted((s for store in sites for _, s in store.keyword_search(text, K)), reverse=True)[:K]
        centralised = [s for _, s in central.keyword_search(text, K)]
        differing += own != pytest.approx(centralised, rel=1e-9)
    assert differing > 10


def test_counts_without_a_term_or_from_fts5_fall_back_to_own_counts(
    stores: tuple[list[SQLiteDocStore], SQLiteDocStore],
) -> None:
    sites, _ = stores
    store = sites[1]
    put(store, "a", ["pump seal leak", "bearing noise"])
    stats = CorpusStats(rows=100, tokens=500.0, frequencies={"pump": 40})  # "seal" is not counted
    assert not store.keyword_ranking("pump seal", 5, stats=stats).global_stats
    store.keyword_mirror = False  # FTS5 ranks: it cannot use another index's counts
    full = CorpusStats(rows=100, tokens=500.0, frequencies={"pump": 40, "seal": 3})
    ranking = store.keyword_ranking("pump seal", 5, stats=full)
    assert not ranking.global_stats and ranking.hits == store.keyword_search("pump seal", 5)


def test_keyword_seq_moves_only_with_chunk_changes(stores: tuple[list[SQLiteDocStore], SQLiteDocStore]) -> None:
    store = stores[0][0]
    put(store, "a", ["pump seal"])
    seq = store.keyword_seq
    store.set_meta("unrelated", "x")
    with store.transaction():
        pass
    assert store.keyword_seq == seq
    assert store.term_counts().version == seq
    put(store, "b", ["valve"])
    assert store.keyword_seq > seq and store.term_counts().frequencies["valv"] == 1
