"""``ExactNumpyIndex``: brute-force inner-product search in plain numpy.

It is the reference the other ``VectorIndex`` backends are tested against, and a dependency-free index
for tiny corpora. Saved as ``.npz`` (ids, vectors) with the same atomic write as the FAISS files.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from indexes._arrays import check_ids, check_k, check_vectors, empty_results
from indexes._fsio import atomic_write
from indexes.base import FloatMatrix, IdArray
from indexes.errors import IndexCorruptError

__all__ = ["ExactNumpyIndex"]


class ExactNumpyIndex:
    """Exact inner-product search over every stored vector; removal really drops the row."""

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self._dim = dim
        self._ids: IdArray = np.empty(0, dtype=np.int64)
        self._vectors: FloatMatrix = np.empty((0, dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def count(self) -> int:
        return int(self._ids.shape[0])

    def ids(self) -> IdArray:
        """The stored ids, ascending."""
        return np.sort(self._ids)

    def add(self, ids: IdArray, vectors: FloatMatrix) -> None:
        vectors = check_vectors(vectors, self._dim)
        ids = check_ids(ids, vectors.shape[0])
        unique = np.unique(ids)
        if unique.shape[0] != ids.shape[0]:
            raise ValueError("ids contain duplicates within one add() call")
        clash = np.intersect1d(unique, self._ids)
        if clash.size:
            raise ValueError(f"ids already stored: {clash[:5].tolist()}")
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, vectors])

    def search(self, queries: FloatMatrix, k: int) -> tuple[FloatMatrix, IdArray]:
        queries = check_vectors(queries, self._dim, "queries")
        k = check_k(k)
        scores, ids = empty_results(queries.shape[0], k)
        found = min(k, self.count)
        if found == 0 or queries.shape[0] == 0:
            return scores, ids
        all_scores = queries @ self._vectors.T
        # argpartition keeps it O(n) per query; only the k winners get sorted.
        top = np.argpartition(-all_scores, found - 1, axis=1)[:, :found]
        top_scores = np.take_along_axis(all_scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        scores[:, :found] = np.take_along_axis(top_scores, order, axis=1)
        ids[:, :found] = self._ids[np.take_along_axis(top, order, axis=1)]
        return scores, ids

    def remove(self, ids: IdArray) -> int:
        ids = check_ids(ids)
        drop = np.isin(self._ids, ids)
        removed = int(drop.sum())
        if removed:
            self._ids = self._ids[~drop]
            self._vectors = self._vectors[~drop]
        return removed

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, ids=self._ids, vectors=self._vectors)
        atomic_write(Path(path), [buffer.getbuffer()])

    @classmethod
    def load(cls, path: Path) -> ExactNumpyIndex:
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                ids = np.asarray(archive["ids"], dtype=np.int64)
                vectors = np.asarray(archive["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise IndexCorruptError(f"cannot read numpy index {path}: {exc}") from exc
        if vectors.ndim != 2 or ids.shape != (vectors.shape[0],):
            raise IndexCorruptError(f"numpy index {path} holds {ids.shape} ids for vectors {vectors.shape}")
        index = cls(int(vectors.shape[1]))
        index._ids, index._vectors = ids, np.ascontiguousarray(vectors)
        return index
