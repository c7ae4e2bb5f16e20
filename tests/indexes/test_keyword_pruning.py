"""Query-term pruning of keyword search: the pure rule, and the docstore applying it where FTS5 ranks
(before its in-memory keyword index is built)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, SQLiteDocStore
from indexes._sqlite_schema import PRUNE_KEEP, PRUNE_SHARE, prune_phrases, query_phrases

pytestmark = pytest.mark.unit

DIM = 4


# -- the rule ------------------------------------------------------------------------------------------

TERMS = {'"pump"': "pump", '"seal"': "seal", '"bearing"': "bear", '"leak"': "leak", '"MS-4471"': None}


def test_common_terms_go_and_the_rarest_stay() -> None:
    phrases = ['"pump"', '"seal"', '"bearing"', '"leak"']
    frequencies = {"pump": 900, "seal": 50, "bear": 400, "leak": 10}
    kept = prune_phrases(phrases, TERMS, frequencies, 1000, max_share=0.25, keep=1)
    assert kept == ['"seal"', '"leak"']  # query order, pump (90%) and bearing (40%) dropped


def test_the_rarest_terms_stay_however_common() -> None:
    phrases = ['"pump"', '"seal"', '"bearing"']
    frequencies = {"pump": 900, "seal": 800, "bear": 700}
    assert prune_phrases(phrases, TERMS, frequencies, 1000, max_share=0.25, keep=2) == ['"seal"', '"bearing"']
    assert prune_phrases(phrases, TERMS, frequencies, 1000, max_share=0.25, keep=3) == phrases


def test_codes_and_terms_of_unknown_frequency_are_never_dropped() -> None:
    phrases = ['"MS-4471"', '"pump"', '"seal"', '"bearing"']
    frequencies = {"pump": 990, "bear": 995}  # seal: unknown
    kept = prune_phrases(phrases, TERMS, frequencies, 1000, max_share=0.25, keep=1)
    assert kept == ['"MS-4471"', '"pump"', '"seal"']


def test_a_term_at_the_share_limit_stays() -> None:
    phrases = ['"pump"', '"seal"', '"leak"']
    frequencies = {"pump": 250, "seal": 251, "leak": 1}
    assert prune_phrases(phrases, TERMS, frequencies, 1000, max_share=0.25, keep=1) == ['"pump"', '"leak"']


def test_share_one_keeps_everything() -> None:
    phrases = ['"pump"', '"seal"', '"bearing"', '"leak"']
    frequencies = {"pump": 1000, "seal": 1000, "bear": 1000, "leak": 1000}
    assert prune_phrases(phrases, TERMS, frequencies, 1000, max_share=1.0, keep=0) == phrases


# -- the docstore --------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteDocStore]:
    store = SQLiteDocStore(tmp_path / "docstore.sqlite3", dim=DIM)
    store.keyword_mirror = False  # pruning applies where FTS5 ranks
    yield store
    store.close()


def put(store: SQLiteDocStore, doc_id: str, *texts: str) -> list[int]:
    vectors = np.full((len(texts), DIM), 0.5, np.float32)
    drafts = [ChunkDraft(text=text, ordinal=i) for i, text in enumerate(texts)]
    with store.transaction() as txn:
        return txn.put_document(DocumentEntry(doc_id, "src", "", "text", doc_id, doc_id), drafts, vectors)


def fill(store: SQLiteDocStore, n: int, text: str = "pump housing general inspection report") -> None:
    put(store, "filler", *(f"{text} {i}" for i in range(n)))


def test_tokens_are_the_tokenizers_own(store: SQLiteDocStore) -> None:
    phrases = query_phrases("Bearings seal MS-4471 6310 cavitation")
    tokens = store._fts.tokens_of(store._conn, phrases)  # type: ignore[arg-type]
    assert tokens == {
        '"Bearings"': ("bear",),  # porter stem, as chunk_fts indexes it
        '"seal"': ("seal",),
        '"MS-4471"': ("ms", "4471"),  # a phrase: never pruned
        '"6310"': ("6310",),  # a digit: never pruned
        '"cavitation"': ("cavit",),
    }


def test_a_common_term_is_dropped_and_rare_terms_rank(store: SQLiteDocStore) -> None:
    fill(store, 40)
    (only_common,) = put(store, "a", "pump housing general")
    (rare,) = put(store, "b", "impeller cavitation wear ring")
    query = "pump housing general impeller cavitation wear"
    assert len(query_phrases(query)) > PRUNE_KEEP == 3
    pruned = [cid for cid, _ in store.keyword_search(query, 100)]
    full = [cid for cid, _ in store.keyword_search(query, 100, prune=False)]
    assert pruned == [rare]  # the chunk with only common terms no longer matches
    assert only_common in full and full[0] == rare and len(full) == 42


def test_pruning_off_by_share_one(store: SQLiteDocStore) -> None:
    fill(store, 40)
    put(store, "b", "impeller cavitation wear ring")
    store.prune_share = 1.0
    assert len(store.keyword_search("pump housing general impeller cavitation wear", 100)) == 41


def test_part_numbers_are_kept_however_common(store: SQLiteDocStore) -> None:
    fill(store, 30, "seal kit MS-4471 fitted")
    (target,) = put(store, "b", "gasket flange bolt washer")
    hits = [cid for cid, _ in store.keyword_search("MS-4471 gasket flange bolt washer", 100)]
    assert hits[0] == target and len(hits) == 31  # MS-4471 (in 30 of 31 chunks) still searched
    # A plain word as common as the part number is dropped.
    assert [cid for cid, _ in store.keyword_search("fitted gasket flange bolt washer", 100)] == [target]


def test_frequencies_follow_a_store_that_grew(store: SQLiteDocStore) -> None:
    put(store, "a", "impeller cavitation", "valve seat", "drive belt", "motor mount")
    query = "impeller valve drive motor pump"
    assert len(store.keyword_search(query, 100)) == 4  # nothing common yet: pump occurs nowhere
    fill(store, 40)  # now "pump" is in 40 of 44 chunks; a stale frequency (0) would keep it
    assert len(store.keyword_search(query, 100)) == 4  # pump dropped: the fillers do not match
    assert len(store.keyword_search(query, 100, prune=False)) == 44


def test_default_share_is_a_share() -> None:
    assert 0 < PRUNE_SHARE < 1


def test_the_tokenizer_tables_are_not_stored(tmp_path: Path) -> None:
    store = SQLiteDocStore(tmp_path / "docstore.sqlite3", dim=DIM)
    fill(store, 5)
    assert store.keyword_search("pump housing general inspection report", 5)
    store.close()
    conn = sqlite3.connect(tmp_path / "docstore.sqlite3")
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "chunk_fts" in names and not names & {"query_words", "query_word_terms", "chunk_terms"}
