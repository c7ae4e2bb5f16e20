"""Input checks and result padding shared by every ``VectorIndex`` backend, so all of them reject the
same bad input with the same message."""

from __future__ import annotations

import numpy as np

from indexes.base import FloatMatrix, IdArray

__all__ = ["check_ids", "check_k", "check_vectors", "empty_results", "pad_missing"]


def check_vectors(vectors: object, dim: int, what: str = "vectors") -> FloatMatrix:
    """Return ``vectors`` as a C-contiguous float32 ``(n, dim)`` matrix, or raise ``ValueError``.

    Only float32 is accepted: silently casting float64 would hide an embedder that changed its output.
    """
    if not isinstance(vectors, np.ndarray):
        raise ValueError(f"{what} must be a numpy float32 array of shape (n, {dim}), got {type(vectors)!r}")
    if vectors.dtype != np.float32:
        raise ValueError(
            f"{what} must be float32 with shape (n, {dim}), got dtype {vectors.dtype} with shape {vectors.shape}"
        )
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got shape {vectors.shape}")
    if not bool(np.isfinite(vectors).all()):
        raise ValueError(f"{what} of shape {vectors.shape} contain NaN or infinite values")
    return np.ascontiguousarray(vectors)


def check_ids(ids: object, expected_len: int | None = None) -> IdArray:
    """Return ``ids`` as a contiguous 1-d int64 array of non-negative ids, or raise ``ValueError``.

    Negative ids are refused because -1 marks padding in search results.
    """
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-d numpy integer array, got {type(ids)!r}")
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-d, got shape {ids.shape}")
    if expected_len is not None and ids.shape[0] != expected_len:
        raise ValueError(f"got {ids.shape[0]} ids for {expected_len} vectors")
    as_int64 = np.ascontiguousarray(ids, dtype=np.int64)
    if as_int64.size and int(as_int64.min()) < 0:
        raise ValueError(f"ids must be >= 0 (-1 marks padding), got {int(as_int64.min())}")
    return as_int64


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def empty_results(n_queries: int, k: int) -> tuple[FloatMatrix, IdArray]:
    scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
    ids = np.full((n_queries, k), -1, dtype=np.int64)
    return scores, ids


def pad_missing(scores: FloatMatrix, ids: IdArray) -> tuple[FloatMatrix, IdArray]:
    """Normalise faiss' "no result" markers (id -1 with -FLT_MAX or +FLT_MAX) to id -1 and score -inf."""
    missing = ids < 0
    if bool(missing.any()):
        scores = scores.copy()
        scores[missing] = -np.inf
        ids = np.where(missing, np.int64(-1), ids)
    return scores, ids
