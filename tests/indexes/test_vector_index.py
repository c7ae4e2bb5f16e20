"""The ``VectorIndex`` contract (``rag_fed.testing.vector_index``), run against every backend, plus
FAISS-specific behaviour."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexes import ExactNumpyIndex, FaissVectorIndex, IndexCorruptError, VectorIndex, choose_kind
from rag_fed.testing.vector_index import VectorIndexContract

pytestmark = pytest.mark.unit

DIM = 16
UnitVectors = Callable[[int, int], np.ndarray]  # the conftest fixture


class TestExactNumpyIndex(VectorIndexContract):
    def make(self, dim: int) -> VectorIndex:
        return ExactNumpyIndex(dim)

    def load(self, path: Path) -> VectorIndex:
        return ExactNumpyIndex.load(path)


class TestFaissFlatIndex(VectorIndexContract):
    def make(self, dim: int) -> VectorIndex:
        return FaissVectorIndex(dim, "flat")

    def load(self, path: Path) -> VectorIndex:
        return FaissVectorIndex.load(path)


class TestFaissHnswIndex(VectorIndexContract):
    exact = False

    def make(self, dim: int) -> VectorIndex:
        return FaissVectorIndex(dim, "hnsw", hnsw_m=16, ef_search=64)

    def load(self, path: Path) -> VectorIndex:
        return FaissVectorIndex.load(path)

    def test_tombstones_survive_save_and_are_compacted(self, unit_vectors: UnitVectors, tmp_path: Path) -> None:
        index = FaissVectorIndex(DIM, "hnsw")
        ids = np.arange(100, dtype=np.int64)
        vectors = unit_vectors(100, DIM)
        index.add(ids, vectors)
        index.remove(ids[:10])
        assert (index.count, index.tombstone_count) == (90, 10)
        index.save(tmp_path / "h.faiss")
        loaded = FaissVectorIndex.load(tmp_path / "h.faiss")
        assert (loaded.kind, loaded.count, loaded.tombstone_count) == ("hnsw", 90, 10)
        _, found = loaded.search(vectors[:10], 5)
        assert not np.isin(found, ids[:10]).any()
        loaded.remove(ids[10:25])  # 25 of 100 > 20%: the graph is rebuilt without them
        assert (loaded.count, loaded.tombstone_count) == (75, 0)
        _, found = loaded.search(vectors[25:], 1)
        assert (found[:, 0] == ids[25:]).all()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_damaged_file_is_refused(unit_vectors: UnitVectors, tmp_path: Path, kind: str) -> None:
    index = FaissVectorIndex(DIM, kind)  # type: ignore[arg-type]
    index.add(np.arange(50, dtype=np.int64), unit_vectors(50, DIM))
    path = tmp_path / "v.faiss"
    index.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptError, match="checksum"):
        FaissVectorIndex.load(path)
    path.write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError, match=str(path)):
        FaissVectorIndex.load(path)


def test_numpy_index_refuses_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "n.npz").write_bytes(b"not a zip at all")
    with pytest.raises(IndexCorruptError):
        ExactNumpyIndex.load(tmp_path / "n.npz")


def test_choose_kind_switches_at_the_threshold() -> None:
    assert choose_kind(49_999, 50_000) == "flat"
    assert choose_kind(50_000, 50_000) == "hnsw"


def test_constructor_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="kind"):
        FaissVectorIndex(DIM, "ivf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dim"):
        FaissVectorIndex(0)
