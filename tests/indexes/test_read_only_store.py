"""``SiteStore.open_read_only``: readers beside the writer, nothing written, stale files built in memory."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, IndexCorruptError, IndexStoreError, SiteStore, StoreLockedError
from indexes.site_store import DOCSTORE_FILE_NAME
from tests.indexes.test_site_store import DIM, VERSION, add_docs, open_store, vector_files

pytestmark = pytest.mark.unit


def open_reader(directory: Path, **options: object) -> SiteStore:
    return SiteStore.open_read_only(directory, embedder_name="minilm", site_id="plant-a", **options)  # type: ignore[arg-type]


def file_digests(directory: Path) -> dict[str, str]:
    """Every file of the store but SQLite's WAL companions, which a WAL reader may create (empty)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in directory.iterdir()
        if not path.name.endswith(("-wal", "-shm"))
    }


def test_a_reader_opens_beside_the_writer_and_sees_its_commits(tmp_path: Path) -> None:
    with open_store(tmp_path) as writer:
        vectors = add_docs(writer, ["pump", "valve"])
        writer.checkpoint()
        with open_reader(tmp_path, embedder_version=VERSION, dim=DIM) as reader:
            assert reader.read_only and reader.count == 4
            assert reader.manifest.vector_file == writer.manifest.vector_file, "the current file is loaded"
            _, found = reader.search(vectors["valve"][:1], 1)
            assert reader.docstore.get_chunks(found[0].tolist())[0].doc_id == "valve"
            assert [doc.doc_id for doc in reader.docstore.list_documents()] == ["pump", "valve"]
            assert reader.keyword_search("keywordpump", 5)
        # Committed but not checkpointed: the file is stale, so a new reader builds the index in memory.
        later = add_docs(writer, ["gearbox"], seed=3)
        files_before = vector_files(tmp_path)
        manifest_before = writer.docstore.get_meta("manifest")
        with open_reader(tmp_path) as reader:
            assert reader.count == 6 and reader.verify() == []
            _, found = reader.search(later["gearbox"][:1], 1)
            assert reader.docstore.get_chunks(found[0].tolist())[0].doc_id == "gearbox"
        assert vector_files(tmp_path) == files_before, "a reader writes no vector file"
        assert writer.docstore.get_meta("manifest") == manifest_before, "nor a manifest"
        # The writer is undisturbed: it still commits and checkpoints.
        add_docs(writer, ["motor"], seed=5)
        writer.checkpoint()
        assert writer.verify() == []


def test_a_reader_refuses_every_write_and_changes_no_file(tmp_path: Path) -> None:
    with open_store(tmp_path) as writer:
        add_docs(writer, ["pump"])
        with writer.transaction() as txn:  # a commit after the last checkpoint: the file is stale
            txn.delete_document("pump")
    digests = file_digests(tmp_path)
    reader = open_reader(tmp_path)
    entry = DocumentEntry("valve", "src/valve", "Valve", "text", "h", "s")
    with pytest.raises(IndexStoreError, match="read-only"), reader.transaction() as txn:
        txn.put_document(entry, [ChunkDraft("valve", 0)], np.zeros((1, DIM), np.float32))
    for write in (reader.checkpoint, reader.rebuild):
        with pytest.raises(IndexStoreError, match="read-only"):
            write()
    with pytest.raises(IndexStoreError, match="read-only"):
        reader.docstore.set_meta("x", "y")
    assert not reader.docstore.start_keyword_index(wait=None), "no in-memory keyword index in a reader"
    reader.close()
    assert file_digests(tmp_path) == digests


def test_readers_take_no_lock_and_writers_still_exclude_each_other(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    readers = [open_reader(tmp_path) for _ in range(3)]
    with open_store(tmp_path) as writer:
        with pytest.raises(StoreLockedError, match=f"process {os.getpid()}") as refused:
            open_store(tmp_path)
        assert refused.value.holder == str(os.getpid())
        add_docs(writer, ["pump"])
    for reader in readers:
        assert reader.count == 0, "a reader's vector index is the state it opened"
        assert [doc.doc_id for doc in reader.docstore.list_documents()] == ["pump"], "its docstore is current"
        reader.close()


def test_a_reader_refuses_an_altered_vector_file_and_another_embedder(tmp_path: Path) -> None:
    with open_store(tmp_path) as writer:
        add_docs(writer, ["pump"])
    path = tmp_path / vector_files(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="ragfed index rebuild --site plant-a"):
        open_reader(tmp_path)
    with pytest.raises(IndexStoreError, match="opened for embedder 'other'"):
        SiteStore.open_read_only(tmp_path, embedder_name="other")
    with pytest.raises(IndexStoreError, match="version 'minilm@2'"):
        open_reader(tmp_path, embedder_version="minilm@2")


def test_a_store_never_written_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="does not exist"):
        open_reader(tmp_path)
    assert not (tmp_path / DOCSTORE_FILE_NAME).exists(), "and the reader did not create it"


def test_line_ranges_are_stored_and_old_stores_read_without_them(tmp_path: Path) -> None:
    old = tmp_path / "old"
    with open_store(old) as writer:
        add_docs(writer, ["pump"])
    # A store written before the line-range columns existed.
    with sqlite3.connect(old / DOCSTORE_FILE_NAME) as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN line_start")
        conn.execute("ALTER TABLE chunks DROP COLUMN line_end")
    with open_reader(old) as reader:
        chunks = reader.docstore.get_chunks(reader.docstore.chunk_ids().tolist())
        assert [chunk.lines for chunk in chunks] == [None, None]
    with open_store(old) as writer:  # the writer adds the columns
        vectors = np.eye(1, DIM, dtype=np.float32)
        entry = DocumentEntry("manual.txt", "src/manual.txt", "Manual", "manual", "h", "s")
        with writer.transaction() as txn:
            (chunk_id,) = txn.put_document(entry, [ChunkDraft("text", 0, "2. ISOLATION", None, (12, 30))], vectors)
        (stored,) = writer.docstore.get_chunks([chunk_id])
        assert (stored.section, stored.lines) == ("2. ISOLATION", (12, 30))
