"""Fixtures shared by the storage tests."""

from __future__ import annotations

from collections.abc import Callable

import faiss
import numpy as np
import pytest

# Two cores are shared by several jobs: OpenMP spinning on both would slow everyone down.
faiss.omp_set_num_threads(1)

UnitVectors = Callable[[int, int], np.ndarray]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def unit_vectors(rng: np.random.Generator) -> UnitVectors:
    """Random L2-normalised float32 vectors, as an embedder would return them."""

    def make(n: int, dim: int) -> np.ndarray:
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors

    return make
