"""Test helper, run as a subprocess by test_crash_safety.py (pytest does not collect it).

Ingests a deterministic plan of synthetic documents into a ``SiteStore``, a few operations per
transaction, skipping documents whose content hash is already stored (so a re-run after a crash
finishes the job), checkpointing every few transactions and printing ``committed <t>`` after each
commit. ``--stall POINT --stall-at T`` makes the writer print ``stall <POINT>`` and sleep at that point
of transaction/checkpoint ``T`` so the test can SIGKILL it exactly there.

The plan is a list of idempotent operations ("put doc at version v", "delete doc"), so replaying it from
any committed prefix ends in the same state; ``expected_states`` gives the state after each prefix.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from indexes import ChunkDraft, DocumentEntry, SiteStore, _fsio, site_store

DIM = 24
EMBEDDER = ("synthetic", "synthetic@1")
STALL_POINTS = ("in-transaction", "before-mirror", "before-rename", "before-manifest", "before-prune")

Operation = tuple[str, str, int]  # ("put", doc_id, version) or ("delete", doc_id, 0)
State = dict[str, tuple[str, tuple[str, ...]]]  # doc_id -> (content_hash, chunk texts)


def plan(n_docs: int) -> list[Operation]:
    ops: list[Operation] = []
    for i in range(n_docs):
        ops.append(("put", f"doc-{i:04d}", 1))
        if i % 7 == 6:
            ops.append(("delete", f"doc-{i - 3:04d}", 0))
        if i % 11 == 10:
            ops.append(("put", f"doc-{i - 4:04d}", 2))
    return ops


def transactions(n_docs: int, per_txn: int) -> list[list[Operation]]:
    ops = plan(n_docs)
    return [ops[i : i + per_txn] for i in range(0, len(ops), per_txn)]


def document(doc_id: str, version: int) -> tuple[DocumentEntry, list[ChunkDraft], np.ndarray]:
    seed = int(hashlib.sha256(f"{doc_id}/{version}".encode()).hexdigest()[:8], 16)
    n_chunks = 1 + seed % 4
    texts = [f"{doc_id} version {version} part {j} marker{seed % 99991}p{j}" for j in range(n_chunks)]
    vectors = np.random.default_rng(seed).standard_normal((n_chunks, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    content_hash = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    entry = DocumentEntry(doc_id, f"synthetic://{doc_id}", f"Synthetic {doc_id}", "text", content_hash, doc_id)
    return entry, [ChunkDraft(text, j) for j, text in enumerate(texts)], vectors


def expected_states(n_docs: int, per_txn: int) -> list[State]:
    """``states[t]`` is the store content after the first ``t`` transactions."""
    state: State = {}
    states = [dict(state)]
    for ops in transactions(n_docs, per_txn):
        for op, doc_id, version in ops:
            if op == "put":
                entry, chunks, _ = document(doc_id, version)
                state[doc_id] = (entry.content_hash, tuple(c.text for c in chunks))
            else:
                state.pop(doc_id, None)
        states.append(dict(state))
    return states


def _stall(point: str) -> None:
    print(f"stall {point}", flush=True)
    time.sleep(120)


class _Stalls:
    """Wraps store internals so that, once armed, the chosen point prints and sleeps."""

    def __init__(self, point: str | None) -> None:
        self.point, self.armed = point, False
        if point == "before-rename":
            vars(_fsio)["os"] = _PatchedOs(self)
        elif point in ("before-manifest", "before-prune"):
            name = "write_manifest" if point == "before-manifest" else "remove_vector_files"
            vars(site_store)[name] = self._wrap(vars(site_store)[name])
        elif point == "before-mirror":
            SiteStore._mirror = self._wrap(SiteStore._mirror)  # type: ignore[method-assign]

    def _wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                _stall(str(self.point))
            return function(*args, **kwargs)

        return wrapped


class _PatchedOs:
    def __init__(self, stalls: _Stalls) -> None:
        self._stalls = stalls

    def replace(self, src: str, dst: str) -> None:
        if self._stalls.armed and str(dst).endswith(".faiss"):
            _stall("before-rename")
        os.replace(src, dst)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def run(args: argparse.Namespace) -> None:
    stalls = _Stalls(args.stall)
    name, version = EMBEDDER
    with SiteStore.open(args.dir, version, DIM, embedder_name=name, hnsw_threshold=args.hnsw_threshold) as store:
        print(f"opened pid {os.getpid()}", flush=True)
        for t, ops in enumerate(transactions(args.docs, args.per_txn), start=1):
            stored = store.docstore.content_hashes()
            stalls.armed = args.stall == "before-mirror" and t == args.stall_at
            with store.transaction() as txn:
                for n, (op, doc_id, doc_version) in enumerate(ops):
                    if op == "put":
                        entry, chunks, vectors = document(doc_id, doc_version)
                        if stored.get(doc_id) != entry.content_hash:
                            txn.put_document(entry, chunks, vectors)
                            stored[doc_id] = entry.content_hash
                    elif stored.pop(doc_id, None) is not None:
                        txn.delete_document(doc_id)
                    if args.stall == "in-transaction" and t == args.stall_at and n == 1:
                        _stall("in-transaction")
            print(f"committed {t}", flush=True)
            if t % args.checkpoint_every == 0:
                stalls.armed = args.stall in STALL_POINTS[2:] and t == args.stall_at
                store.checkpoint()
                stalls.armed = False
                print(f"checkpointed {t}", flush=True)
    print("done", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--per-txn", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=3)
    parser.add_argument("--hnsw-threshold", type=int, default=50_000)
    parser.add_argument("--stall", choices=STALL_POINTS)
    parser.add_argument("--stall-at", type=int, default=0)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
