"""The ``DocStore`` contract (``indexes.base.DocStore``): documents, chunks, their vectors and a BM25 keyword
index written in transactions that commit whole or not at all, chunk ids never reused.

Subclass :class:`DocStoreContract`, name the subclass ``Test...``, and give it ``make(directory)``: a new empty
store under ``directory`` that takes vectors of ``DIM`` dimensions. ``entry``, ``drafts`` and ``vectors_for``
make the documents the contract stores, for a backend's own further tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from indexes import ChunkDraft, DocStore, DocumentEntry, UnknownRecordError

__all__ = ["DIM", "DocStoreContract", "drafts", "entry", "vectors_for"]

DIM = 8


def entry(doc_id: str, source: str = "manuals/pump.pdf", title: str = "Pump manual", version: int = 1) -> DocumentEntry:
    return DocumentEntry(
        doc_id=doc_id,
        source=source,
        title=title,
        kind="pdf",
        content_hash=f"content-{doc_id}-{version}",
        source_hash=f"source-{doc_id}",
        metadata={"site": "plant-a", "lang": "en"},
    )


def drafts(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(text=text, ordinal=i, section=f"Section {i}", page=i + 1) for i, text in enumerate(texts)]


def vectors_for(n: int, seed: int = 0) -> NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


class DocStoreContract:
    """Every ``DocStore`` backend subclasses this and passes it unchanged."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[DocStore]:
        store = self.make(tmp_path)
        yield store
        store.close()

    def make(self, directory: Path) -> DocStore:
        raise NotImplementedError

    def put(self, store: DocStore, doc: DocumentEntry, *texts: str, seed: int = 0) -> list[int]:
        with store.transaction() as txn:
            return txn.put_document(doc, drafts(*texts), vectors_for(len(texts), seed))

    def test_satisfies_the_protocol(self, store: DocStore) -> None:
        assert isinstance(store, DocStore)

    def test_put_then_read_back(self, store: DocStore) -> None:
        ids = self.put(store, entry("pump"), "Check the impeller for wear.", "Replace the seal kit.")
        assert len(set(ids)) == 2
        doc = store.get_document("pump")
        assert (doc.title, doc.source, doc.chunk_count, doc.content_hash) == (
            "Pump manual",
            "manuals/pump.pdf",
            2,
            "content-pump-1",
        )
        assert dict(doc.metadata) == {"site": "plant-a", "lang": "en"}
        assert datetime.fromisoformat(doc.added_at).utcoffset() == UTC.utcoffset(None)
        chunks = store.get_chunks(ids)
        assert [c.text for c in chunks] == ["Check the impeller for wear.", "Replace the seal kit."]
        assert (chunks[1].section, chunks[1].page, chunks[1].ordinal, chunks[1].doc_id) == (
            "Section 1",
            2,
            1,
            "pump",
        )
        assert chunks[0].title == "Pump manual" and chunks[0].metadata["site"] == "plant-a"

    def test_get_chunks_keeps_the_requested_order(self, store: DocStore) -> None:
        ids = self.put(store, entry("pump"), "one", "two", "three")
        reordered = [ids[2], ids[0], ids[1], ids[2]]
        assert [c.chunk_id for c in store.get_chunks(reordered)] == reordered
        with pytest.raises(UnknownRecordError, match="999999"):
            store.get_chunks([ids[0], 999_999])

    def test_put_replaces_a_document_entirely(self, store: DocStore) -> None:
        old = self.put(store, entry("pump"), "legacy zircotherm gasket", "other text")
        new = self.put(store, entry("pump", version=2), "modern bellows seal")
        assert min(new) > max(old), "chunk ids are never reused"
        assert store.get_document("pump").chunk_count == 1
        assert store.keyword_search("zircotherm", 5) == []
        assert [cid for cid, _ in store.keyword_search("bellows", 5)] == new
        with pytest.raises(UnknownRecordError):
            store.get_chunks(old[:1])
        assert [ids.tolist() for ids, _ in store.iter_vectors()] == [new]

    def test_delete_removes_chunks_vectors_and_keywords(self, store: DocStore) -> None:
        ids = self.put(store, entry("pump"), "the flangebolt torque is 40 Nm")
        keep = self.put(store, entry("valve", source="manuals/valve.pdf"), "valve seat lapping")
        with store.transaction() as txn:
            assert txn.delete_document("pump") == ids
        assert store.keyword_search("flangebolt", 5) == []
        assert [d.doc_id for d in store.list_documents()] == ["valve"]
        assert np.concatenate([i for i, _ in store.iter_vectors()]).tolist() == keep
        with pytest.raises(UnknownRecordError, match="pump"):
            store.get_document("pump")
        again = self.put(store, entry("pump"), "the flangebolt torque is 40 Nm")
        assert min(again) > max(keep), "a deleted chunk's id never comes back"

    def test_deleting_an_unknown_document_raises(self, store: DocStore) -> None:
        with pytest.raises(UnknownRecordError, match="ghost"), store.transaction() as txn:
            txn.delete_document("ghost")

    def test_list_documents_by_source_with_chunk_counts(self, store: DocStore) -> None:
        self.put(store, entry("a", source="s1"), "x1", "x2")
        self.put(store, entry("b", source="s2"), "y1")
        with store.transaction() as txn:
            txn.put_document(entry("empty", source="s1"), [], np.empty((0, DIM), dtype=np.float32))
        assert [(d.doc_id, d.chunk_count) for d in store.list_documents()] == [
            ("a", 2),
            ("b", 1),
            ("empty", 0),
        ]
        assert [d.doc_id for d in store.list_documents("s1")] == ["a", "empty"]
        assert store.list_documents("nowhere") == []

    def test_iter_vectors_returns_the_stored_vectors_exactly(self, store: DocStore) -> None:
        vectors = vectors_for(7, seed=3)
        with store.transaction() as txn:
            ids = txn.put_document(entry("a"), drafts(*"abcdefg"), vectors)
        batches = list(store.iter_vectors(batch_size=3))
        assert [len(b[0]) for b in batches] == [3, 3, 1]
        assert np.concatenate([b[0] for b in batches]).tolist() == ids
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), vectors)

    def test_keyword_search_ranks_by_bm25(self, store: DocStore) -> None:
        strong, weak = self.put(
            store, entry("a"), "bearing bearing bearing noise", "noise from the bearing and the motor housing"
        )
        self.put(store, entry("b"), "unrelated lubrication schedule")
        hits = store.keyword_search("bearing noise", 10)
        assert [cid for cid, _ in hits] == [strong, weak]
        assert hits[0][1] > hits[1][1] > 0
        assert len(store.keyword_search("bearing", 1)) == 1

    @pytest.mark.parametrize("query", ['C3-"x', "AND", "NEAR(", "*", '"', "title:pump", "a OR", "(((", "x^y -z"])
    def test_keyword_search_treats_query_syntax_as_text(self, store: DocStore, query: str) -> None:
        self.put(store, entry("a"), 'fault C3-x and "quoted" title: pump near x y z')
        assert isinstance(store.keyword_search(query, 5), list)

    def test_keyword_search_finds_part_numbers_and_operators(self, store: DocStore) -> None:
        (cid,) = self.put(store, entry("a"), "error code C3-x means low pressure and high temperature")
        assert [c for c, _ in store.keyword_search('C3-"x', 5)] == [cid]
        assert [c for c, _ in store.keyword_search("AND", 5)] == [cid]
        assert store.keyword_search("-- !! ___ ...", 5) == []
        assert store.keyword_search("", 5) == []

    def test_a_failed_transaction_leaves_nothing(self, store: DocStore) -> None:
        self.put(store, entry("keep"), "kept text")
        seq = store.commit_seq
        with pytest.raises(RuntimeError, match="boom"), store.transaction() as txn:
            txn.put_document(entry("lost"), drafts("vanishing xylophone"), vectors_for(1))
            txn.delete_document("keep")
            raise RuntimeError("boom")
        assert [d.doc_id for d in store.list_documents()] == ["keep"]
        assert store.keyword_search("xylophone", 5) == []
        assert store.commit_seq == seq

    def test_commit_seq_counts_committed_writes(self, store: DocStore) -> None:
        start = store.commit_seq
        self.put(store, entry("a"), "one")
        self.put(store, entry("b"), "two")
        assert store.commit_seq == start + 2
        with store.transaction():
            pass
        assert store.commit_seq == start + 2, "a transaction that wrote nothing is not a commit"

    def test_mismatched_vectors_raise_and_store_nothing(self, store: DocStore) -> None:
        with pytest.raises(ValueError, match=r"\(1, 8\)"), store.transaction() as txn:
            txn.put_document(entry("a"), drafts("x", "y"), vectors_for(1))
        with pytest.raises(ValueError, match="float32"), store.transaction() as txn:
            txn.put_document(entry("a"), drafts("x"), vectors_for(1).astype(np.float64))
        assert store.list_documents() == []
