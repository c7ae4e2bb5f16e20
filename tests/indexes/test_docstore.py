"""The ``DocStore`` contract (``rag_fed.testing.docstore``), run against ``SQLiteDocStore``, plus SQLite-specific
behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes import (
    DocStore,
    IndexCorruptError,
    IndexStoreError,
    SQLiteDocStore,
)
from indexes._sqlite_schema import MAX_QUERY_TERMS, fts_match_expression
from rag_fed.testing.docstore import DIM, DocStoreContract, drafts, entry, vectors_for

pytestmark = pytest.mark.unit


class TestSQLiteDocStore(DocStoreContract):
    def make(self, directory: Path) -> DocStore:
        return SQLiteDocStore(directory / "docs.sqlite3", dim=DIM)

    def test_data_survives_reopening(self, tmp_path: Path) -> None:
        store = SQLiteDocStore(tmp_path / "d.sqlite3", dim=DIM)
        ids = self.put(store, entry("a"), "persistent words")
        seq = store.commit_seq
        store.close()
        reopened = SQLiteDocStore(tmp_path / "d.sqlite3", dim=DIM)
        assert reopened.commit_seq == seq
        assert [c for c, _ in reopened.keyword_search("persistent", 3)] == ids
        assert reopened.verify() == []
        reopened.close()

    def test_content_hashes_for_skipping_unchanged_documents(self, store: SQLiteDocStore) -> None:
        self.put(store, entry("a", source="s1"), "x")
        self.put(store, entry("b", source="s2", version=3), "y")
        assert store.content_hashes("s2") == {"b": "content-b-3"}
        assert store.content_hashes() == {"a": "content-a-1", "b": "content-b-3"}

    def test_transactions_do_not_nest_or_outlive_their_block(self, store: SQLiteDocStore) -> None:
        with (
            store.transaction() as txn,
            pytest.raises(IndexStoreError, match="already open"),
            store.transaction(),
        ):
            pass
        with pytest.raises(IndexStoreError, match="ended"):
            txn.put_document(entry("late"), drafts("x"), vectors_for(1))

    def test_verify_reports_a_keyword_index_out_of_step(self, store: SQLiteDocStore) -> None:
        self.put(store, entry("a"), "x", "y")
        assert store.verify() == []
        with store.transaction() as txn:
            conn = txn._conn  # reach in to simulate damage that the API cannot cause
            conn.execute("DELETE FROM chunk_fts WHERE rowid = (SELECT min(chunk_id) FROM chunks)")
        assert any("1 chunks missing" in p for p in store.verify())

    def test_a_file_that_is_not_a_database_is_corrupt(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.sqlite3"
        path.write_bytes(b"this is not sqlite" * 100)
        with pytest.raises(IndexCorruptError, match="damaged"):
            SQLiteDocStore(path)

    def test_operations_after_close_raise(self, tmp_path: Path) -> None:
        store = SQLiteDocStore(tmp_path / "d.sqlite3")
        store.close()
        with pytest.raises(IndexStoreError, match="closed"):
            store.list_documents()

    def test_stop_words_do_not_match_on_their_own(self, store: SQLiteDocStore) -> None:
        (impeller,) = self.put(store, entry("a"), "inspect the impeller")
        self.put(store, entry("b"), "the end of the list is the part of the story")
        assert [c for c, _ in store.keyword_search("what is the state of the impeller", 5)] == [impeller]

    def test_a_query_of_only_stop_words_still_searches(self, store: SQLiteDocStore) -> None:
        (quote,) = self.put(store, entry("a"), "to be or not to be")
        self.put(store, entry("b"), "pressure gauge")
        assert [c for c, _ in store.keyword_search("To be, or not to be?", 5)] == [quote]

    @pytest.mark.parametrize("query", ["NOT AND", "AND OR NOT", '"the" OR', "NEAR(the a)", "the*", "-the"])
    def test_stop_word_operators_stay_inert_text(self, store: SQLiteDocStore, query: str) -> None:
        (cid,) = self.put(store, entry("a"), "do not open and close near the valve or a cover")
        assert [c for c, _ in store.keyword_search(query, 5)] == [cid]


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("what is the pressure of the pump?", '"pressure" OR "pump?"'),
        ("How do I turn off the phone", '"turn" OR "off" OR "phone"'),
        ("the A-1 valve in I/O bay", '"A-1" OR "valve" OR "I/O" OR "bay"'),
        ("it's the C3-x fault", '"C3-x" OR "fault"'),
        ("the THE The", '"the"'),
        ("Pump pump PUMP seal", '"Pump" OR "seal"'),
        ('NOT "AND"', '"NOT" OR """AND"""'),
        ("-- !! ___", None),
    ],
)
def test_query_builder_drops_stop_words_and_keeps_codes(query: str, expression: str | None) -> None:
    assert fts_match_expression(query) == expression


def test_query_builder_caps_the_terms_after_dropping_stop_words() -> None:
    words = [f"term{i}" for i in range(MAX_QUERY_TERMS + 10)]
    expression = fts_match_expression(" the ".join(words))
    assert expression is not None
    assert expression.split(" OR ") == [f'"{w}"' for w in words[:MAX_QUERY_TERMS]]
