"""``SiteStore``: vectors follow commits, checkpoints, corruption and mismatch detection, the writer lock."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexes import (
    ChunkDraft,
    DocumentEntry,
    IndexCorruptError,
    IndexMismatchError,
    IndexStoreError,
    SiteStore,
    SQLiteDocStore,
)
from indexes._writer_lock import WriterLock
from indexes.site_store import DOCSTORE_FILE_NAME

pytestmark = pytest.mark.unit

DIM = 12
VERSION = "minilm@1"


def open_store(directory: Path, **options: object) -> SiteStore:
    return SiteStore.open(directory, VERSION, DIM, embedder_name="minilm", site_id="plant-a", **options)  # type: ignore[arg-type]


def add_docs(store: SiteStore, names: list[str], seed: int = 0, chunks: int = 2) -> dict[str, np.ndarray]:
    """Put one document per name; return each document's vectors."""
    rng = np.random.default_rng(seed)
    added = {}
    with store.transaction() as txn:
        for name in names:
            vectors = rng.standard_normal((chunks, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            doc = DocumentEntry(name, f"src/{name}", name.title(), "text", f"h-{name}-{seed}", f"s-{name}")
            txn.put_document(doc, [ChunkDraft(f"{name} part {i} keyword{name}", i) for i in range(chunks)], vectors)
            added[name] = vectors
    return added


def vector_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("vectors.*"))


def assert_self_search(store: SiteStore) -> None:
    for ids, vectors in store.docstore.iter_vectors():
        _, found = store.search(vectors, 1)
        np.testing.assert_array_equal(found[:, 0], ids)


def test_commits_reach_the_index_and_survive_reopening(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        vectors = add_docs(store, ["pump", "valve"])
        assert store.count == 4
        _, found = store.search(vectors["valve"][:1], 1)
        (chunk,) = store.docstore.get_chunks(found[0].tolist())
        assert chunk.doc_id == "valve"
        assert [c for c, _ in store.keyword_search("keywordpump", 5)] == [
            c.chunk_id for c in store.docstore.get_chunks(store.search(vectors["pump"], 1)[1][:, 0].tolist())
        ]
    assert vector_files(tmp_path) == [f"vectors.{store.manifest.vector_commit_seq}.faiss"]
    with open_store(tmp_path) as reopened:
        assert reopened.count == 4 and reopened.verify() == []
        assert reopened.manifest.vector_file == store.manifest.vector_file, "a current file is loaded, not rebuilt"
        assert_self_search(reopened)


def test_deletes_and_replacements_reach_the_index(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        old = add_docs(store, ["pump", "valve"])
        with store.transaction() as txn:
            txn.delete_document("valve")
        new = add_docs(store, ["pump"], seed=9)
        assert store.count == 2
        _, found = store.search(np.concatenate([old["valve"], old["pump"]]), store.count)
        assert set(found.ravel().tolist()) <= set(store.docstore.chunk_ids().tolist())
        assert_self_search(store)
        assert store.verify() == []
        assert store.search(new["pump"], 1)[0][0, 0] == pytest.approx(1.0, abs=1e-5)


def test_a_failed_transaction_leaves_the_index_untouched(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump"])
        with pytest.raises(RuntimeError, match="boom"), store.transaction() as txn:
            txn.delete_document("pump")
            txn.put_document(
                DocumentEntry("x", "s", "X", "t", "h", "s"),
                [ChunkDraft("x", 0)],
                np.ones((1, DIM), np.float32),
            )
            raise RuntimeError("boom")
        assert store.count == 2 and store.verify() == []


def test_wrong_vector_dim_is_refused(tmp_path: Path) -> None:
    with (
        open_store(tmp_path) as store,
        pytest.raises(ValueError, match=r"\(1, 5\)"),
        store.transaction() as txn,
    ):
        txn.put_document(DocumentEntry("x", "s", "X", "t", "h", "s"), [ChunkDraft("x", 0)], np.ones((1, 5), np.float32))


def test_a_damaged_vector_file_is_refused_until_rebuilt(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump", "valve"])
    (name,) = vector_files(tmp_path)
    data = bytearray((tmp_path / name).read_bytes())
    data[-20] ^= 0x01
    (tmp_path / name).write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match=r"checksum.*ragfed index rebuild --site plant-a"):
        open_store(tmp_path)
    with open_store(tmp_path, force_rebuild=True) as rebuilt:
        assert rebuilt.count == 4 and rebuilt.verify() == []
        assert_self_search(rebuilt)
    with open_store(tmp_path) as reopened:
        assert reopened.verify() == []


def test_a_missing_vector_file_is_refused(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump"])
    for path in tmp_path.glob("vectors.*"):
        path.unlink()
    with pytest.raises(IndexCorruptError, match="missing"):
        open_store(tmp_path)


def test_a_garbage_docstore_is_refused(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump"])
    (tmp_path / DOCSTORE_FILE_NAME).write_bytes(os.urandom(8192))
    with pytest.raises(IndexCorruptError, match="damaged"):
        open_store(tmp_path)
    WriterLock.acquire(tmp_path).release()  # the failed open released the writer lock


@pytest.mark.parametrize(
    ("name", "version", "dim", "message"),
    [
        ("minilm", VERSION, 16, r"dim 12.*dim 16"),
        ("minilm", "minilm@2", DIM, r"'minilm@1'.*'minilm@2'"),
        ("e5", VERSION, DIM, r"'minilm'.*'e5'"),
    ],
)
def test_another_embedder_is_a_mismatch(tmp_path: Path, name: str, version: str, dim: int, message: str) -> None:
    open_store(tmp_path).close()
    with pytest.raises(IndexMismatchError, match=message):
        SiteStore.open(tmp_path, version, dim, embedder_name=name)
    open_store(tmp_path).close()  # the refused open released the writer lock


def test_a_stale_vector_file_is_rebuilt_from_the_docstore(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump"])
    (old_file,) = vector_files(tmp_path)
    old_bytes = (tmp_path / old_file).read_bytes()
    docstore = SQLiteDocStore(tmp_path / DOCSTORE_FILE_NAME)
    old_manifest = docstore.get_meta("manifest")
    docstore.close()
    with open_store(tmp_path) as store:
        added = add_docs(store, ["valve"], seed=4)
    # Put back the state of a crash between the commit of "valve" and the next checkpoint.
    for path in tmp_path.glob("vectors.*"):
        path.unlink()
    (tmp_path / old_file).write_bytes(old_bytes)
    docstore = SQLiteDocStore(tmp_path / DOCSTORE_FILE_NAME)
    assert old_manifest is not None
    docstore.set_meta("manifest", old_manifest)
    docstore.close()
    with open_store(tmp_path) as store:
        assert store.count == 4 and store.verify() == []
        assert store.manifest.vector_commit_seq == store.docstore.commit_seq
        _, found = store.search(added["valve"], 1)
        assert {c.doc_id for c in store.docstore.get_chunks(found[:, 0].tolist())} == {"valve"}
    assert old_file not in vector_files(tmp_path)


def test_leftover_vector_files_are_removed_on_open(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    (tmp_path / "vectors.99.faiss").write_bytes(b"half written")
    (tmp_path / "vectors.7.faiss.tmp").write_bytes(b"torn")
    with open_store(tmp_path) as store:
        assert vector_files(tmp_path) == [store.manifest.vector_file]
        assert store.verify() == []


def test_a_second_writer_is_refused_with_the_holder_pid(tmp_path: Path) -> None:
    first = open_store(tmp_path)
    with pytest.raises(IndexStoreError, match=f"process {os.getpid()}"):
        open_store(tmp_path)
    first.close()
    open_store(tmp_path).close()


def test_the_index_kind_follows_the_count(tmp_path: Path) -> None:
    names = [f"d{i}" for i in range(12)]
    with open_store(tmp_path, hnsw_threshold=20) as store:
        add_docs(store, names[:8])
        store.checkpoint()
        assert store.index_kind == "flat"
        add_docs(store, names[8:], seed=1)
        store.checkpoint()
        assert (store.index_kind, store.manifest.index_kind, store.count) == ("hnsw", "hnsw", 24)
        assert_self_search(store)
    with open_store(tmp_path, hnsw_threshold=20) as store:
        assert store.index_kind == "hnsw"
        with store.transaction() as txn:
            for name in names[:4]:
                txn.delete_document(name)
        store.checkpoint()
        assert store.index_kind == "hnsw", "16 vectors is above half the threshold: stay on hnsw"
        with store.transaction() as txn:
            for name in names[4:8]:
                txn.delete_document(name)
        store.checkpoint()
        assert (store.index_kind, store.count) == ("flat", 8)
        assert_self_search(store)
        assert store.verify() == []


def test_verify_reports_chunks_missing_from_the_index(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        add_docs(store, ["pump"])
    # Damage the docstore behind the store's back: the chunk goes, commit_seq does not move.
    with sqlite3.connect(tmp_path / DOCSTORE_FILE_NAME) as conn:
        conn.execute("DELETE FROM chunk_fts WHERE rowid = (SELECT min(chunk_id) FROM chunks)")
        conn.execute("DELETE FROM chunks WHERE chunk_id = (SELECT min(chunk_id) FROM chunks)")
    with open_store(tmp_path) as store:
        problems = store.verify()
        assert any("belong to no chunk" in p for p in problems)
        assert any("1 chunks but 2 vectors" in p for p in problems)
        store.rebuild()
        assert store.verify() == []


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(IndexStoreError, match="closed"):
        store.search(np.ones((1, DIM), np.float32), 1)
