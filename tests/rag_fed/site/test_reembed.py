"""Re-embedding a site for another embedder version: background job, catch-up, atomic switch, rollback.

Real SQLite, FAISS and files; the two "versions" are deterministic hash embedders, so a re-embedded
store can be compared exactly with a fresh ingest of the same files under the new version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from rag_fed.config import IngestSettings, Settings
from rag_fed.errors import IndexIntegrityError, InputError
from rag_fed.site import Site
from rag_fed.site.versions import LEGACY_STORE, POINTER_FILE, STORES_DIR
from tests.rag_fed.site.fake_embedders import HashEmbedder, PausingEmbedder

pytestmark = pytest.mark.unit

A, B = "fake-a@1", "fake-b@2"
DOCS = {
    "pump.md": "# Pump SP-40\n\n## Seal\nReplace the mechanical seal kit when the gland leaks.\n",
    "conveyor.md": "# Conveyor C3\n\n## Tracking\nAdjust the snub pulley when the belt runs off.\n",
    "compressor.md": "# Compressor AC-9\n\n## Switch\nThe pressure switch cuts out at nine bar.\n",
    "dryer.md": "# Dryer D-2\n\n## Filter\nClean the dryer filter weekly with dry air.\n",
    "orders.csv": "wo_id,asset,description\nW-1,SP-40,gland leaking badly\nW-2,C3,belt off to left\n",
}
Content = tuple[dict[str, tuple[str, int]], NDArray[np.float32]]


def _settings(root: Path) -> Settings:
    # Two chunks per batch: even this small corpus is re-embedded in several batches.
    return Settings(data_dir=root / "data", ingest=IngestSettings(batch_chunks=2))


def _write(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text)
    return folder


def _make_site(root: Path, docs: dict[str, str] = DOCS, version: str = A, site_id: str = "plant") -> Site:
    settings = _settings(root)
    Site.init(site_id, settings)
    site = Site.open(site_id, settings, embedder=HashEmbedder(version))
    assert not site.ingest([_write(root / "docs", docs)]).failed
    return site


def _content(site: Site) -> Content:
    """What a store holds: its documents (content hash, chunk count) and every vector, rows sorted."""
    docs = {doc.doc_id: (doc.content_hash, doc.chunk_count) for doc in site.list_documents()}
    vectors = site.vector_snapshot().vectors
    return docs, vectors[np.lexsort(vectors.T[::-1])]


def _assert_same_as_fresh(site: Site, root: Path, docs: dict[str, str], version: str) -> None:
    """The site holds exactly what a fresh ingest of ``docs`` under ``version`` holds."""
    with _make_site(root, docs, version, site_id="fresh") as fresh:
        expected_docs, expected_vectors = _content(fresh)
    got_docs, got_vectors = _content(site)
    assert got_docs == expected_docs
    assert got_vectors.shape == expected_vectors.shape and np.allclose(got_vectors, expected_vectors, atol=1e-6)
    assert site.verify() == []


def _top_doc(site: Site, question: str, version: str) -> str:
    vector = HashEmbedder(version).embed([question])[0]
    passages = site.search(question, 1, "dense", query_vector=vector, embedder_version=version)
    return passages[0].citation.doc_id


def _store_dirs(site: Site) -> list[str]:
    root = site.layout.root
    found = [LEGACY_STORE] if (root / LEGACY_STORE).is_dir() else []
    stores = root / STORES_DIR
    return found + sorted(f"{STORES_DIR}/{p.name}" for p in stores.iterdir()) if stores.is_dir() else found


def test_a_reembed_switches_atomically_to_a_store_equal_to_a_fresh_ingest(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    status = site.start_reembed(HashEmbedder(B), model="fake-b").wait(30)
    assert status.state == "done", status.error
    assert status.chunks_done == status.chunks_total == site.chunk_count > 0
    assert (site.serving_version, site.previous_version, site.vector_snapshot().embedder_version) == (B, A, B)
    _assert_same_as_fresh(site, tmp_path / "fresh", DOCS, B)
    assert _top_doc(site, "snub pulley belt", B) == "conveyor.md"
    with pytest.raises(InputError, match="embedder version mismatch"):
        _top_doc(site, "mechanical seal", A)
    site.close()
    # The pointer survives a restart: the site opens on the new store and refuses the old embedder.
    settings = _settings(tmp_path)
    with Site.open("plant", settings, embedder=HashEmbedder(B)) as reopened:
        assert reopened.serving_version == B and reopened.previous_version == A
        assert _top_doc(reopened, "pressure switch bar", B) == "compressor.md"
    with pytest.raises(IndexIntegrityError, match="re-embed"):
        Site.open("plant", settings, embedder=HashEmbedder(A))


def test_queries_ingests_and_deletes_during_the_reembed_are_served_and_caught_up(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    embedder = PausingEmbedder(B, pause_at=2)
    job = site.start_reembed(embedder, model="fake-b")
    assert embedder.paused.wait(30), "the re-embed never reached its second batch"
    # Mid re-embed: the old store answers and takes writes.
    assert _top_doc(site, "dryer filter weekly", A) == "dryer.md"
    changed = {**DOCS, "pump.md": DOCS["pump.md"] + "Torque the gland bolts to 35 Nm.\n"}
    changed["heater.md"] = "# Heater H-1\n\n## Element\nReplace the heating element when it trips.\n"
    del changed["dryer.md"]
    assert not site.ingest([_write(tmp_path / "docs", changed)]).failed  # adds heater, updates pump
    assert site.delete_document("dryer.md") > 0
    progress = site.reembed_status()
    assert progress is not None and progress.state == "running" and 0 < progress.chunks_done < progress.chunks_total
    assert site.serving_version == A and _top_doc(site, "heating element trips", A) == "heater.md"
    embedder.resume.set()
    status = job.wait(30)
    assert status.state == "done", status.error
    assert site.serving_version == B
    _assert_same_as_fresh(site, tmp_path / "fresh", changed, B)
    assert _top_doc(site, "heating element trips", B) == "heater.md"
    assert "dryer.md" not in {doc.doc_id for doc in site.list_documents()}
    assert not site.has_document("dryer.md")
    site.close()


def test_rollback_returns_to_the_previous_store_with_the_changes_made_since(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    assert site.start_reembed(HashEmbedder(B), model="fake-b").wait(30).state == "done"
    later = {**DOCS, "heater.md": "# Heater H-1\n\n## Element\nReplace the heating element when it trips.\n"}
    del later["conveyor.md"]
    assert not site.ingest([_write(tmp_path / "docs", later)]).failed
    site.delete_document("conveyor.md")
    status = site.rollback(HashEmbedder(A)).wait(30)
    assert status.state == "done" and status.job == "rollback", status.error
    # Only the changes since the switch were embedded again; the rest of the old store was kept.
    assert status.chunks_done == 1
    assert (site.serving_version, site.previous_version) == (A, B)
    _assert_same_as_fresh(site, tmp_path / "fresh", later, A)
    assert _top_doc(site, "heating element trips", A) == "heater.md"
    # Rolling out B again goes back to the kept B store: forward and back cost only the changes.
    assert site.start_reembed(HashEmbedder(B), model="fake-b").wait(30).chunks_done == 0
    assert site.serving_version == B
    assert len(_store_dirs(site)) == 2
    site.close()


def test_rollback_during_a_reembed_cancels_it_and_the_old_store_keeps_serving(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    embedder = PausingEmbedder(B, pause_at=2)
    job = site.start_reembed(embedder, model="fake-b")
    assert embedder.paused.wait(30)
    threading.Timer(0.2, embedder.resume.set).start()
    assert site.rollback() is job
    assert job.status().state == "cancelled"
    assert site.serving_version == A and site.previous_version is None
    assert _store_dirs(site) == [LEGACY_STORE], "the half-built store must be deleted"
    assert not (site.layout.root / POINTER_FILE).exists()
    with pytest.raises(InputError, match="no previous store"):
        site.rollback()
    site.close()


def test_reembed_requests_are_idempotent_and_a_second_version_waits(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    assert site.start_reembed(HashEmbedder(A), model="fake-a").status().state == "done"  # already served
    embedder = PausingEmbedder(B, pause_at=1)
    job = site.start_reembed(embedder, model="fake-b")
    assert embedder.paused.wait(30)
    assert site.start_reembed(HashEmbedder(B), model="fake-b") is job
    with pytest.raises(InputError, match="re-embedding for fake-b@2"):
        site.start_reembed(HashEmbedder("fake-c@3"), model="fake-c")
    embedder.resume.set()
    assert job.wait(30).state == "done"
    site.close()


class _BrokenEmbedder(HashEmbedder):
    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        raise RuntimeError("out of memory on the embedding device")


def test_a_failed_reembed_is_reported_and_changes_nothing(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    before = _content(site)
    status = site.start_reembed(_BrokenEmbedder(B), model="fake-b").wait(30)
    assert status.state == "failed" and status.error is not None and "out of memory" in status.error
    assert site.reembed_status() == status
    assert site.serving_version == A and _store_dirs(site) == [LEGACY_STORE]
    after = _content(site)
    assert after[0] == before[0] and np.array_equal(after[1], before[1])
    site.close()


def test_prune_deletes_the_previous_store(tmp_path: Path) -> None:
    site = _make_site(tmp_path)
    assert site.start_reembed(HashEmbedder(B), model="fake-b").wait(30).state == "done"
    assert LEGACY_STORE in _store_dirs(site)
    removed = site.prune()
    assert [path.name for path in removed] == [LEGACY_STORE]
    assert site.previous_version is None and len(_store_dirs(site)) == 1
    with pytest.raises(InputError, match="no previous store"):
        site.rollback()
    assert _top_doc(site, "mechanical seal", B) == "pump.md"
    site.close()


@pytest.mark.integration
def test_a_process_killed_mid_reembed_leaves_the_active_store_intact_and_the_next_attempt_starts_clean(
    tmp_path: Path,
) -> None:
    _make_site(tmp_path).close()
    before_dirs = None
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "OMP_NUM_THREADS": "1"}
    script = Path(__file__).with_name("fake_embedders.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data"), "plant"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and not line.startswith("paused"):
            line = process.stdout.readline()
        assert line.startswith("paused"), "the site process never paused mid re-embed"
        before_dirs = sorted(p.name for p in (tmp_path / "data" / "plant" / STORES_DIR).iterdir())
        assert len(before_dirs) == 1, "a half-built store should exist while the re-embed runs"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    settings = _settings(tmp_path)
    with Site.open("plant", settings, embedder=HashEmbedder(A)) as site:
        assert site.serving_version == A and site.verify() == []
        assert _top_doc(site, "mechanical seal", A) == "pump.md"
        assert {doc.doc_id for doc in site.list_documents()} >= set(DOCS) - {"orders.csv"}
        status = site.start_reembed(HashEmbedder(B), model="fake-b").wait(30)
        assert status.state == "done", status.error
        dirs = _store_dirs(site)
        assert before_dirs[0] not in {d.split("/")[-1] for d in dirs}, "the leftover must be removed"
        assert len(dirs) == 2 and site.serving_version == B
        _assert_same_as_fresh(site, tmp_path / "fresh", DOCS, B)


def test_a_query_running_across_the_switch_finishes_on_the_store_it_started_on(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    Site.init("plant", settings)
    old = PausingEmbedder(A, pause_at=0)
    site = Site.open("plant", settings, embedder=old)
    assert not site.ingest([_write(tmp_path / "docs", DOCS)]).failed
    old.pause_at = old.calls + 1  # the query's own embedding pauses
    found: list[str] = []
    query = threading.Thread(target=lambda: found.extend(p.citation.doc_id for p in site.search("dryer filter", 1)))
    query.start()
    assert old.paused.wait(30)
    assert site.start_reembed(HashEmbedder(B), model="fake-b").wait(30).state == "done"
    assert site.serving_version == B
    old.resume.set()
    query.join(30)
    assert found == ["dryer.md"], "the query keeps the store and embedder it started with"
    # The old store closed when that query ended, so it can serve again at once.
    assert site.rollback(HashEmbedder(A)).wait(30).state == "done" and site.serving_version == A
    site.close()
