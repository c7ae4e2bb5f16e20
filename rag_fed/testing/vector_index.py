"""The ``VectorIndex`` contract (``indexes.base.VectorIndex``): exact or approximate nearest neighbours by
inner product, removal that really removes, save and load that give the same results, and bad input
refused with ``ValueError``.

Subclass :class:`VectorIndexContract`, name the subclass ``Test...``, and give it ``make(dim)`` (a new empty
index) and ``load(path)`` (an index saved with ``save``); set ``exact = False`` for an approximate index.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from indexes import VectorIndex

__all__ = ["VectorIndexContract", "brute_force"]

DIM = 16
Vectors = NDArray[np.float32]
UnitVectors = Callable[[int, int], Vectors]


def brute_force(vectors: Vectors, ids: NDArray[np.int64], queries: Vectors, k: int) -> NDArray[np.int64]:
    """The ids of each query's ``k`` best vectors by inner product, as an exact index must find them."""
    order = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
    result: NDArray[np.int64] = ids[order]
    return result


class VectorIndexContract:
    """Every ``VectorIndex`` backend subclasses this and passes it unchanged."""

    exact = True

    @pytest.fixture
    def unit_vectors(self) -> UnitVectors:
        """Random L2-normalised float32 vectors (seeded), as an embedder would return them."""
        rng = np.random.default_rng(1234)

        def make(n: int, dim: int) -> Vectors:
            vectors = rng.standard_normal((n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            return vectors

        return make

    def make(self, dim: int) -> VectorIndex:
        raise NotImplementedError

    def load(self, path: Path) -> VectorIndex:
        raise NotImplementedError

    def filled(self, unit_vectors: UnitVectors, n: int = 300) -> tuple[VectorIndex, NDArray[np.int64], Vectors]:
        index = self.make(DIM)
        ids = np.arange(n, dtype=np.int64) * 7 + 1000  # sparse, non-positional ids
        vectors = unit_vectors(n, DIM)
        index.add(ids, vectors)
        return index, ids, vectors

    def test_satisfies_the_protocol(self) -> None:
        index = self.make(DIM)
        assert isinstance(index, VectorIndex)
        assert (index.dim, index.count) == (DIM, 0)

    def test_search_matches_brute_force(self, unit_vectors: UnitVectors) -> None:
        index, ids, vectors = self.filled(unit_vectors)
        queries = unit_vectors(40, DIM)
        scores, found = index.search(queries, 10)
        expected = brute_force(vectors, ids, queries, 10)
        assert scores.shape == found.shape == (40, 10)
        assert scores.dtype == np.float32 and found.dtype == np.int64
        if self.exact:
            np.testing.assert_array_equal(found, expected)
        else:
            recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, expected, strict=True)])
            assert recall >= 0.95
        by_id = dict(zip(ids.tolist(), vectors, strict=True))
        for row, query in enumerate(queries):
            inner = np.array([by_id[i] @ query for i in found[row]], dtype=np.float32)
            np.testing.assert_allclose(scores[row], inner, rtol=1e-5, atol=1e-5)
            assert np.all(np.diff(scores[row]) <= 1e-6), "results must be best first"

    def test_each_vector_finds_itself_first(self, unit_vectors: UnitVectors) -> None:
        index, ids, vectors = self.filled(unit_vectors)
        _, found = index.search(vectors, 1)
        assert np.mean(found[:, 0] == ids) >= (1.0 if self.exact else 0.98)

    def test_remove_really_removes(self, unit_vectors: UnitVectors) -> None:
        index, ids, vectors = self.filled(unit_vectors)
        gone = ids[::5]
        assert index.remove(gone) == gone.size
        assert index.count == ids.size - gone.size
        _, found = index.search(vectors, index.count)
        assert not np.isin(found, gone).any()
        assert index.remove(gone) == 0, "removing twice removes nothing"
        assert index.remove(np.array([10**12], dtype=np.int64)) == 0

    def test_a_removed_id_can_be_added_again(self, unit_vectors: UnitVectors) -> None:
        index, ids, vectors = self.filled(unit_vectors, n=50)
        target = ids[3:4]
        index.remove(target)
        replacement = -vectors[3:4]  # far from the old vector
        index.add(target, replacement)
        assert index.count == 50
        scores, found = index.search(replacement, 2)
        assert found[0, 0] == target[0] and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
        assert found[0, 1] != target[0], "the old vector must not still answer under the same id"
        _, found_old = index.search(vectors[3:4], 50)
        assert found_old[0].tolist().count(int(target[0])) == 1

    def test_duplicate_ids_are_rejected(self, unit_vectors: UnitVectors) -> None:
        index, ids, _ = self.filled(unit_vectors, n=20)
        with pytest.raises(ValueError, match="already stored"):
            index.add(ids[:2], unit_vectors(2, DIM))
        with pytest.raises(ValueError, match="duplicates"):
            index.add(np.array([5, 5], dtype=np.int64), unit_vectors(2, DIM))
        assert index.count == 20

    def test_save_and_load_give_the_same_results(self, unit_vectors: UnitVectors, tmp_path: Path) -> None:
        index, ids, _ = self.filled(unit_vectors)
        index.remove(ids[:30])
        queries = unit_vectors(20, DIM)
        before = index.search(queries, 10)
        index.save(tmp_path / "index.bin")
        loaded = self.load(tmp_path / "index.bin")
        after = loaded.search(queries, 10)
        assert (loaded.dim, loaded.count) == (DIM, index.count)
        np.testing.assert_array_equal(after[1], before[1])
        np.testing.assert_allclose(after[0], before[0], rtol=1e-6)
        assert not list(tmp_path.glob("*.tmp")), "save must not leave its temp file behind"

    def test_results_are_padded_when_k_exceeds_count(self, unit_vectors: UnitVectors) -> None:
        index, ids, vectors = self.filled(unit_vectors, n=3)
        scores, found = index.search(vectors[:2], 5)
        assert sorted(found[0, :3].tolist()) == sorted(ids.tolist())
        assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
        assert np.isfinite(scores[:, :3]).all()

    def test_an_empty_index_returns_only_padding(self, unit_vectors: UnitVectors) -> None:
        scores, found = self.make(DIM).search(unit_vectors(2, DIM), 4)
        assert (found == -1).all() and np.isneginf(scores).all()

    @pytest.mark.parametrize(
        ("vectors", "message"),
        [
            (np.zeros((2, DIM + 1), dtype=np.float32), r"\(2, 17\)"),
            (np.zeros((2, DIM), dtype=np.float64), "float32"),
            (np.zeros(DIM, dtype=np.float32), r"\(16,\)"),
            (np.full((1, DIM), np.nan, dtype=np.float32), "NaN"),
        ],
    )
    def test_bad_vectors_raise_value_error(self, vectors: NDArray[np.generic], message: str) -> None:
        index = self.make(DIM)
        ids = np.arange(len(vectors) if vectors.ndim == 2 else 1, dtype=np.int64)
        with pytest.raises(ValueError, match=message):
            index.add(ids, vectors)  # type: ignore[arg-type]  # the wrong shapes and types are the point
        with pytest.raises(ValueError, match=message):
            index.search(vectors, 1)  # type: ignore[arg-type]
        assert index.count == 0

    def test_bad_ids_and_k_raise_value_error(self, unit_vectors: UnitVectors) -> None:
        index = self.make(DIM)
        with pytest.raises(ValueError, match="3 ids for 2 vectors"):
            index.add(np.arange(3, dtype=np.int64), unit_vectors(2, DIM))
        with pytest.raises(ValueError, match=">= 0"):
            index.add(np.array([-1, 2], dtype=np.int64), unit_vectors(2, DIM))
        with pytest.raises(ValueError, match="k must be"):
            index.search(unit_vectors(1, DIM), 0)

    def test_non_contiguous_input_is_accepted(self, unit_vectors: UnitVectors) -> None:
        wide = np.zeros((40, 2 * DIM), dtype=np.float32)
        wide[:, ::2] = unit_vectors(40, DIM)
        strided = wide[:, ::2]
        assert not strided.flags["C_CONTIGUOUS"]
        index = self.make(DIM)
        index.add(np.arange(40, dtype=np.int64)[::-1], strided)  # reversed ids are a strided view too
        _, found = index.search(np.asfortranarray(strided[:5]), 1)
        assert found[:, 0].tolist() == [39, 38, 37, 36, 35]
