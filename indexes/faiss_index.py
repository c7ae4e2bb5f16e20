"""``FaissVectorIndex``: inner-product search with FAISS, with real deletes for both index kinds.

- ``flat``: ``IndexIDMap2(IndexFlatIP)``; exact, and ``remove`` drops the vectors at once.
- ``hnsw``: ``IndexIDMap2(IndexHNSWFlat, inner product)``; approximate and fast on large sites. HNSW graphs
  cannot drop nodes, so a removed id becomes a tombstone: searches pass faiss an ``IDSelectorNot`` over the
  tombstones (they are still walked through but never returned), and once tombstones exceed
  ``COMPACT_FRACTION`` of the graph it is rebuilt from the live vectors. Re-adding a tombstoned id compacts
  first, because the graph would otherwise hold two vectors under one id.

File format (``save``/``load``): ``MAGIC``, a little-endian u32 format version and u32 header length, a
JSON header (kind, dim, parameters, tombstone count, sha256 of the body), then the body: the tombstone
ids as int64 followed by ``faiss.serialize_index`` bytes. Keeping tombstones in the same file means a
saved HNSW index needs no rebuild before it can be written; the checksum makes ``load`` refuse a damaged
file instead of serving wrong neighbours.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from indexes._arrays import check_ids, check_k, check_vectors, empty_results, pad_missing
from indexes._fsio import atomic_write
from indexes.base import FloatMatrix, IdArray, IndexKind
from indexes.errors import IndexCorruptError

__all__ = ["COMPACT_FRACTION", "FaissVectorIndex", "choose_kind", "set_search_threads"]

# The stubs bundled with faiss-cpu 1.15 lack classes used here (SearchParametersHNSW, IDSelectorNot) and
# type sub-indexes as the base ``Index``; the module is used untyped rather than with ignores on each line.
faiss: Any = _faiss

COMPACT_FRACTION = 0.2
MAGIC = b"RAGFEDVX"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sII")
_KINDS: tuple[IndexKind, ...] = ("flat", "hnsw")


_search_threads: int | None = None


def set_search_threads(threads: int | None) -> None:
    """OpenMP threads each FAISS search may use, in every thread of the process; ``None`` leaves each
    thread with OpenMP's setting (``OMP_NUM_THREADS`` or the number of cores).

    OpenMP keeps this setting per thread: a thread started later (a web server's worker, the keyword
    pool) reads the process default, not its creator's setting. So the value is recorded here and each
    thread applies it at its next search.
    """
    global _search_threads
    if threads is not None and threads < 1:
        raise ValueError(f"FAISS needs at least one thread, got {threads}")
    _search_threads = threads


def _use_search_threads() -> None:
    wanted = _search_threads
    if wanted is not None and _faiss.omp_get_max_threads() != wanted:  # this thread's own setting
        _faiss.omp_set_num_threads(wanted)


def choose_kind(expected_count: int, hnsw_threshold: int) -> IndexKind:
    """``hnsw`` from ``hnsw_threshold`` vectors on; below it an exact flat scan is fast enough and exact."""
    return "hnsw" if expected_count >= hnsw_threshold else "flat"


class FaissVectorIndex:
    """A ``VectorIndex`` backed by FAISS; see the module docstring for how deletes work per kind."""

    def __init__(
        self,
        dim: int,
        kind: IndexKind = "flat",
        hnsw_m: int = 32,
        ef_search: int = 64,
        ef_construction: int = 80,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if hnsw_m < 2 or ef_search < 1 or ef_construction < 1:
            raise ValueError(f"bad HNSW parameters: m={hnsw_m}, ef_search={ef_search}, ef={ef_construction}")
        self._dim, self._kind = dim, kind
        self._hnsw_m, self._ef_search, self._ef_construction = hnsw_m, ef_search, ef_construction
        self._faiss = self._new_faiss_index()
        self._live: set[int] = set()
        self._tombstones: set[int] = set()
        self._selector: Any = None  # cached faiss selector over the tombstones; None when stale or unneeded
        self._selector_parts: tuple[Any, ...] = ()  # keeps the selector's inner objects alive

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def kind(self) -> IndexKind:
        return self._kind

    @property
    def count(self) -> int:
        return len(self._live)

    @property
    def tombstone_count(self) -> int:
        return len(self._tombstones)

    def ids(self) -> IdArray:
        """The live ids, ascending."""
        return np.sort(np.fromiter(self._live, dtype=np.int64, count=len(self._live)))

    def add(self, ids: IdArray, vectors: FloatMatrix) -> None:
        vectors = check_vectors(vectors, self._dim)
        ids = check_ids(ids, vectors.shape[0])
        if ids.size == 0:
            return
        new = ids.tolist()
        if len(set(new)) != len(new):
            raise ValueError("ids contain duplicates within one add() call")
        clash = self._live.intersection(new)
        if clash:
            raise ValueError(f"ids already stored: {sorted(clash)[:5]}")
        if self._tombstones.intersection(new):
            self._compact()
        self._faiss.add_with_ids(vectors, ids)
        self._live.update(new)

    def search(self, queries: FloatMatrix, k: int) -> tuple[FloatMatrix, IdArray]:
        queries = check_vectors(queries, self._dim, "queries")
        k = check_k(k)
        if not self._live or queries.shape[0] == 0:
            return empty_results(queries.shape[0], k)
        _use_search_threads()
        if self._kind == "flat":
            scores, ids = self._faiss.search(queries, k)
        else:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self._ef_search, k)  # HNSW can return at most efSearch results
            if self._tombstones:
                params.sel = self._tombstone_selector()
            scores, ids = self._faiss.search(queries, k, params=params)
        return pad_missing(scores, ids)

    def remove(self, ids: IdArray) -> int:
        ids = check_ids(ids)
        present = self._live.intersection(ids.tolist())
        if not present:
            return 0
        gone = np.fromiter(present, dtype=np.int64, count=len(present))
        self._live.difference_update(present)
        if self._kind == "flat":
            self._faiss.remove_ids(gone)
        else:
            self._tombstones.update(present)
            self._selector = None
            if len(self._tombstones) > COMPACT_FRACTION * self._faiss.ntotal:
                self._compact()
        return len(present)

    def save(self, path: Path) -> None:
        payload = faiss.serialize_index(self._faiss)
        tombstones = np.fromiter(sorted(self._tombstones), dtype="<i8", count=len(self._tombstones))
        digest = hashlib.sha256(tombstones.tobytes())
        digest.update(payload.data)
        header = json.dumps(
            {
                "kind": self._kind,
                "dim": self._dim,
                "hnsw_m": self._hnsw_m,
                "ef_search": self._ef_search,
                "ef_construction": self._ef_construction,
                "tombstones": int(tombstones.shape[0]),
                "body_sha256": digest.hexdigest(),
            },
            sort_keys=True,
        ).encode()
        preamble = _PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header))
        atomic_write(Path(path), [preamble, header, tombstones.tobytes(), payload.data])

    @classmethod
    def load(cls, path: Path) -> FaissVectorIndex:
        """Read an index written by ``save``; any damage raises ``IndexCorruptError`` naming the file."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorruptError(f"cannot read vector index {path}: {exc}") from exc
        try:
            return cls._from_bytes(data)
        except (ValueError, KeyError, TypeError, RuntimeError, struct.error) as exc:
            raise IndexCorruptError(f"vector index {path} is damaged: {exc}") from exc

    @classmethod
    def _from_bytes(cls, data: bytes) -> FaissVectorIndex:
        magic, version, header_len = _PREAMBLE.unpack_from(data)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise ValueError(f"not a rag-fed vector file (magic {magic!r}, format {version})")
        body_start = _PREAMBLE.size + header_len
        header = json.loads(data[_PREAMBLE.size : body_start])
        body = memoryview(data)[body_start:]
        if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
            raise ValueError("checksum mismatch")
        n_tomb = int(header["tombstones"])
        tombstones = np.frombuffer(body[: 8 * n_tomb], dtype="<i8").astype(np.int64)
        raw = np.frombuffer(body[8 * n_tomb :], dtype=np.uint8).copy()  # faiss wants a writable buffer
        index = cls(
            int(header["dim"]),
            header["kind"],
            int(header["hnsw_m"]),
            int(header["ef_search"]),
            int(header["ef_construction"]),
        )
        index._faiss = faiss.deserialize_index(raw)
        if index._kind == "hnsw":
            faiss.downcast_index(index._faiss.index).hnsw.efConstruction = index._ef_construction
        if index._faiss.d != index._dim:
            raise ValueError(f"header says dim {index._dim}, faiss index has dim {index._faiss.d}")
        stored = faiss.vector_to_array(index._faiss.id_map)
        index._tombstones = set(tombstones.tolist())
        index._live = set(stored.tolist()) - index._tombstones
        return index

    def _new_faiss_index(self) -> Any:
        if self._kind == "flat":
            return faiss.index_factory(self._dim, "IDMap2,Flat", faiss.METRIC_INNER_PRODUCT)
        wrapped = faiss.index_factory(self._dim, f"IDMap2,HNSW{self._hnsw_m}", faiss.METRIC_INNER_PRODUCT)
        hnsw = faiss.downcast_index(wrapped.index)
        hnsw.hnsw.efConstruction = self._ef_construction
        hnsw.hnsw.efSearch = self._ef_search
        return wrapped

    def _tombstone_selector(self) -> Any:
        if self._selector is None:
            dead = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
            batch = faiss.IDSelectorBatch(dead)
            self._selector = faiss.IDSelectorNot(batch)
            self._selector_parts = (batch,)
        return self._selector

    def _compact(self) -> None:
        """Rebuild the HNSW graph from the live vectors, dropping every tombstone."""
        stored_ids = faiss.vector_to_array(self._faiss.id_map)
        vectors = self._faiss.index.reconstruct_n(0, self._faiss.ntotal)
        keep = ~np.isin(stored_ids, np.fromiter(self._tombstones, dtype=np.int64))
        self._faiss = self._new_faiss_index()
        if bool(keep.any()):
            self._faiss.add_with_ids(np.ascontiguousarray(vectors[keep]), stored_ids[keep])
        self._tombstones.clear()
        self._selector, self._selector_parts = None, ()
