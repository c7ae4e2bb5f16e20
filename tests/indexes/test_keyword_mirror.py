"""The in-memory keyword index against FTS5 itself: the same chunks, the same scores, through ingest,
re-ingest and delete; and the BM25 formula on a hand-computed example."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, SQLiteDocStore, _keyword_mirror
from indexes.keyword_index import CorpusStats, KeywordIndex

pytestmark = pytest.mark.unit

DIM = 4
WORDS = [
    *("pump", "seal", "bearing", "valve", "impeller", "gasket", "motor", "belt", "pulley", "flange", "bolt"),
    *("torque", "leak", "noise", "wear", "the", "of", "and", "hydraulic", "cylinder", "filter", "pressure"),
]
CODES = ["MS-4471", "E-07", "HP-200", "6310-2RS"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteDocStore]:
    store = SQLiteDocStore(tmp_path / "docstore.sqlite3", dim=DIM)
    yield store
    store.close()


def put(store: SQLiteDocStore, doc_id: str, texts: list[str], title: str = "", section: str = "") -> list[int]:
    vectors = np.full((len(texts), DIM), 0.5, np.float32)
    drafts = [ChunkDraft(text=text, ordinal=i, section=section) for i, text in enumerate(texts)]
    with store.transaction() as txn:
        return txn.put_document(DocumentEntry(doc_id, "src", title, "text", doc_id, doc_id), drafts, vectors)


def random_text(rng: np.random.Generator) -> str:
    words = list(rng.choice(WORDS, size=int(rng.integers(2, 30))))
    if rng.random() < 0.3:
        words.insert(int(rng.integers(0, len(words))), str(rng.choice(CODES)))
    return " ".join(words)


def fill(store: SQLiteDocStore, rng: np.random.Generator, docs: range) -> None:
    for doc in docs:
        texts = [random_text(rng) for _ in range(int(rng.integers(1, 5)))]
        put(store, f"d{doc}", texts, title=f"Manual {rng.choice(WORDS)}", section=str(rng.choice(WORDS)))


def queries(rng: np.random.Generator, n: int) -> list[str]:
    fixed = ["MS-4471 leak", "the of and", "6310-2RS bearing noise", "E-07", "pump", "zzz unknown"]
    return fixed + [random_text(rng) for _ in range(n)]


def assert_mirror_equals_fts5(store: SQLiteDocStore, texts: list[str], k: int = 20) -> None:
    assert store._mirror.wait(30)
    for text in texts:
        mirrored = store.keyword_search(text, k)
        store.keyword_mirror = False
        try:
            direct = store.keyword_search(text, k, prune=False)
        finally:
            store.keyword_mirror = True
        assert [score for _, score in mirrored] == pytest.approx([score for _, score in direct], rel=1e-9)
        if direct:  # equal scores may come in another order, and a cut at k may keep other members of a tie
            last = direct[-1][1]
            assert _above(mirrored, last) == pytest.approx(_above(direct, last), rel=1e-9)


def _above(hits: list[tuple[int, float]], last: float) -> dict[int, float]:
    return {cid: score for cid, score in hits if not math.isclose(score, last, rel_tol=1e-9)}


def test_the_mirror_ranks_as_fts5_through_ingest_reingest_and_delete(store: SQLiteDocStore) -> None:
    rng = np.random.default_rng(1)
    fill(store, rng, range(60))
    store.keyword_search("pump", 5)  # starts the build
    assert_mirror_equals_fts5(store, queries(rng, 25))
    fill(store, rng, range(50, 90))  # re-ingests d50-d59, adds d60-d89: caught up, not rebuilt
    with store.transaction() as txn:
        for doc in range(0, 20, 3):
            txn.delete_document(f"d{doc}")
    assert_mirror_equals_fts5(store, queries(rng, 25))
    assert store._mirror._index is not None and store._mirror._index.rows == store.chunk_ids().size


def test_a_store_that_changed_by_more_than_a_fifth_is_rebuilt(
    store: SQLiteDocStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keyword_mirror, "_MIN_CATCH_UP", 5)
    rng = np.random.default_rng(2)
    fill(store, rng, range(20))
    store.keyword_search("pump", 5)
    assert store._mirror.wait(30)
    fill(store, rng, range(20, 80))
    store.keyword_search("pump", 5)  # too much to catch up: FTS5 answers while it rebuilds
    assert_mirror_equals_fts5(store, queries(rng, 10))
    assert store._mirror._index is not None and store._mirror._index.rows == store.chunk_ids().size


def test_a_failing_mirror_leaves_the_answer_to_fts5(store: SQLiteDocStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    fill(store, rng, range(20))
    store.keyword_search("pump", 5)
    assert store._mirror.wait(30)
    store.keyword_mirror = False
    expected = store.keyword_search("pump leak", 10, prune=False)
    store.keyword_mirror = True

    def broken(*args: object, **kwargs: object) -> list[tuple[int, float]]:
        raise RuntimeError("broken")

    monkeypatch.setattr(KeywordIndex, "search", broken)
    assert store.keyword_search("pump leak", 10) == expected
    assert not store._mirror.ready  # dropped; the next query starts a rebuild
    monkeypatch.undo()
    store.keyword_search("pump", 5)
    assert store._mirror.wait(30)
    again = store.keyword_search("pump leak", 10)
    assert [cid for cid, _ in again] == [cid for cid, _ in expected]
    assert [score for _, score in again] == pytest.approx([score for _, score in expected], rel=1e-9)


def test_a_closed_store_stops_its_build(tmp_path: Path) -> None:
    store = SQLiteDocStore(tmp_path / "docstore.sqlite3", dim=DIM)
    fill(store, np.random.default_rng(4), range(30))
    store.keyword_search("pump", 5)
    store.close()
    assert store._mirror._building is None and not store._mirror.ready


# -- the formula ---------------------------------------------------------------------------------------


def test_bm25_by_hand() -> None:
    index = KeywordIndex()
    # Three chunks of 4, 2 and 6 tokens; "pump" in chunk 10 (twice) and 30 (once), "seal" in 20.
    index.add(
        np.array([10, 20, 30]),
        np.array([4.0, 2.0, 6.0]),
        {"pump": (np.array([10, 30]), np.array([2.0, 1.0])), "seal": (np.array([20]), np.array([1.0]))},
    )
    avgdl = 4.0
    idf_pump = 1e-6  # ln((3 - 2 + 0.5) / 2.5) < 0: FTS5 raises it to 1e-6
    idf_seal = math.log(2.5 / 1.5)

    def term(idf: float, f: float, length: float) -> float:
        return idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * length / avgdl))

    got = dict(index.search(["pump", "seal", "absent"], 10))
    assert got == pytest.approx({20: term(idf_seal, 1, 2), 10: term(idf_pump, 2, 4), 30: term(idf_pump, 1, 6)})
    assert [cid for cid, _ in index.search(["pump", "seal"], 2)] == [20, 10]

    index.remove([20])
    assert index.rows == 2 and index.total_tokens == 10.0
    assert index.search(["seal"], 5) == []
    assert index.postings("pump")[0].tolist() == [10, 30]


def test_a_federation_count_below_the_index_s_own_is_raised_to_it() -> None:
    """A federation's count of a term includes this index's, so one lower (a floor or noise lowered it)
    scores as the index's own count would: exactly, not approximately."""
    index = KeywordIndex()
    index.add(
        np.array([1, 2, 3]),
        np.array([4.0, 2.0, 6.0]),
        {"pump": (np.array([1, 3]), np.array([2.0, 1.0])), "seal": (np.array([2]), np.array([1.0]))},
    )
    stats = CorpusStats(rows=40, tokens=160.0, frequencies={"pump": 7, "seal": 3})
    lowered = CorpusStats(rows=40, tokens=160.0, frequencies={"pump": 1, "seal": 0})  # own: 2 and 1
    raised = CorpusStats(rows=40, tokens=160.0, frequencies={"pump": 2, "seal": 1})
    assert index.search(["pump", "seal"], 5, lowered) == index.search(["pump", "seal"], 5, raised)
    assert index.search(["pump", "seal"], 5, lowered) != index.search(["pump", "seal"], 5, stats)
    idf = math.log((40 - 2 + 0.5) / (2 + 0.5))
    assert dict(index.search(["pump"], 5, lowered))[3] == pytest.approx(
        idf * 1.0 * 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * 6.0 / 4.0))
    )


def test_adding_a_held_chunk_replaces_it() -> None:
    index = KeywordIndex()
    index.add(np.array([1]), np.array([3.0]), {"pump": (np.array([1]), np.array([1.0]))})
    index.add(np.array([1]), np.array([5.0]), {"seal": (np.array([1]), np.array([2.0]))})
    assert index.rows == 1 and index.total_tokens == 5.0
    assert index.search(["pump"], 5) == [] and [cid for cid, _ in index.search(["seal"], 5)] == [1]


def test_postings_must_name_chunks_being_added() -> None:
    with pytest.raises(ValueError, match="not being added"):
        KeywordIndex().add(np.array([1]), np.array([3.0]), {"pump": (np.array([2]), np.array([1.0]))})


def test_a_phrase_scored_elsewhere_adds_its_scores() -> None:
    index = KeywordIndex()
    index.add(np.array([1, 2]), np.array([3.0, 3.0]), {"pump": (np.array([1]), np.array([1.0]))})
    pump = dict(index.search(["pump"], 5))[1]
    got = index.search(["pump", (np.array([2, 1, 99]), np.array([0.5, 0.25, 7.0]))], 5)
    assert got == [(2, 0.5), (1, pytest.approx(pump + 0.25))]  # 99 is not held: left out


def test_the_mirror_keeps_every_query_term(store: SQLiteDocStore) -> None:
    put(store, "filler", [f"pump housing general inspection report {i}" for i in range(40)])
    (rare,) = put(store, "b", ["impeller cavitation wear ring"])
    query = "pump housing general impeller cavitation wear"
    store.keyword_mirror = False
    assert [cid for cid, _ in store.keyword_search(query, 100)] == [rare]  # FTS5 path: common terms pruned
    store.keyword_mirror = True
    assert store.start_keyword_index(wait=30)
    hits = store.keyword_search(query, 100)
    assert hits[0][0] == rare and len(hits) == 41
