"""Crash safety of ``SiteStore``: SIGKILL a real writer process at many points, then reopen.

After every kill the store must open without error, pass ``verify()``, hold exactly the state of some
committed prefix of the writer's plan (never half a transaction), and find every chunk's vector as its
own top hit. Re-running the writer must then finish the job to exactly the expected documents.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from indexes import IndexStoreError, SiteStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")
DOCS, PER_TXN, CHECKPOINT_EVERY = 40, 3, 3
TIMEOUT = 60.0


def _load_writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_writer", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _load_writer()
STATES = writer.expected_states(DOCS, PER_TXN)


def writer_args(directory: Path, *extra: str) -> list[str]:
    plan = ["--docs", str(DOCS), "--per-txn", str(PER_TXN), "--checkpoint-every", str(CHECKPOINT_EVERY)]
    return ["--dir", str(directory), *plan, *extra]


def start_writer(directory: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(WRITER), *writer_args(directory, *extra)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)


def run_until(process: subprocess.Popen[str], marker: str) -> int:
    """Read the writer's output until ``marker``; return the last committed transaction seen."""
    assert process.stdout is not None
    committed, deadline = 0, time.monotonic() + TIMEOUT
    for line in process.stdout:
        if line.startswith("committed "):
            committed = int(line.split()[1])
        if line.strip() == marker:
            return committed
        assert time.monotonic() < deadline, f"writer did not print {marker!r} in time"
    raise AssertionError(f"writer exited ({process.wait()}) before printing {marker!r}")


def stored_state(store: SiteStore) -> dict[str, tuple[str, tuple[str, ...]]]:
    chunks = sorted(store.docstore.get_chunks(store.docstore.chunk_ids().tolist()), key=lambda c: c.ordinal)
    return {
        doc.doc_id: (doc.content_hash, tuple(c.text for c in chunks if c.doc_id == doc.doc_id))
        for doc in store.docstore.list_documents()
    }


def check_recovered(directory: Path, at_least: int, hnsw_threshold: int) -> list[int]:
    """Reopen after a crash; return which committed prefixes of the plan the store's content equals."""
    name, version = writer.EMBEDDER
    with SiteStore.open(directory, version, writer.DIM, embedder_name=name, hnsw_threshold=hnsw_threshold) as store:
        assert store.verify() == []
        assert store.count == len(store.docstore.chunk_ids())
        for ids, vectors in store.docstore.iter_vectors():
            _, found = store.search(vectors, 1)
            np.testing.assert_array_equal(found[:, 0], ids)
        state = stored_state(store)
    matches = [t for t, expected in enumerate(STATES) if expected == state]
    assert matches, f"store holds no committed prefix of the plan: {sorted(state)}"
    assert max(matches) >= at_least, f"lost committed work: holds prefix {matches}, writer printed {at_least}"
    return matches


def finish_and_check(directory: Path, hnsw_threshold: int, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process: the same writer code, without paying a second interpreter start per scenario.
    writer.main(writer_args(directory, "--hnsw-threshold", str(hnsw_threshold)))
    assert capsys.readouterr().out.rstrip().endswith("done")
    assert len(STATES) - 1 in check_recovered(directory, len(STATES) - 1, hnsw_threshold)


@pytest.mark.parametrize(
    ("marker", "hnsw_threshold"),
    [
        ("committed 1", 50_000),
        (f"committed {len(STATES) // 2}", 50_000),
        (f"committed {len(STATES) - 3}", 50_000),
        (f"committed {len(STATES) // 2}", 20),
    ],
    ids=["first-commit", "middle-commit", "late-commit", "middle-commit-hnsw"],
)
def test_killed_after_a_commit(
    tmp_path: Path, marker: str, hnsw_threshold: int, capsys: pytest.CaptureFixture[str]
) -> None:
    process = start_writer(tmp_path, "--hnsw-threshold", str(hnsw_threshold))
    seen = run_until(process, marker)
    process.send_signal(signal.SIGKILL)
    process.wait(TIMEOUT)
    check_recovered(tmp_path, seen, hnsw_threshold)
    finish_and_check(tmp_path, hnsw_threshold, capsys)


@pytest.mark.parametrize(
    ("point", "at", "holds"),
    [
        ("in-transaction", 5, 4),  # killed mid-transaction: the transaction is gone
        ("before-mirror", 5, 5),  # killed after the SQLite commit, before the index followed
        ("before-rename", 6, 6),  # killed mid-checkpoint, temp vector file written
        ("before-manifest", 6, 6),  # new vector file in place, manifest still names the old one
        ("before-prune", 9, 9),  # manifest switched, old vector file not yet deleted
    ],
)
def test_killed_at_a_precise_point(
    tmp_path: Path, point: str, at: int, holds: int, capsys: pytest.CaptureFixture[str]
) -> None:
    process = start_writer(tmp_path, "--stall", point, "--stall-at", str(at))
    run_until(process, f"stall {point}")
    with pytest.raises(IndexStoreError, match=f"process {process.pid}"):
        SiteStore.open(tmp_path, writer.EMBEDDER[1], writer.DIM, embedder_name=writer.EMBEDDER[0])
    process.send_signal(signal.SIGKILL)
    process.wait(TIMEOUT)
    assert holds in check_recovered(tmp_path, holds, 50_000)
    finish_and_check(tmp_path, 50_000, capsys)
