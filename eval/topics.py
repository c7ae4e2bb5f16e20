"""TF-IDF document vectors and seeded spherical k-means, enough to cut a corpus into topic sites.

Plain numpy (no scikit-learn): TF-IDF rows are kept sparse (CSR arrays) so that a 12,000-document
corpus with a 20,000-term vocabulary costs a few megabytes; k-means works on dense or sparse rows.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from eval._text import STOPWORDS

__all__ = ["SparseRows", "spherical_kmeans", "tfidf_rows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_TOKEN = re.compile(r"[a-z][a-z0-9]+")


@dataclass(frozen=True)
class SparseRows:
    """Rows of a sparse matrix in CSR form (``indptr``, ``indices``, ``data``) with ``n_cols`` columns."""

    indptr: IntArray
    indices: IntArray
    data: FloatArray
    n_cols: int

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.indptr) - 1

    def _row_of_entry(self) -> IntArray:
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def dot(self, dense: FloatArray) -> FloatArray:
        """This matrix times ``dense`` (``n_cols x k``): an ``n_rows x k`` array."""
        contributions = self.data[:, None] * dense[self.indices]
        rows = self._row_of_entry()
        columns = [np.bincount(rows, weights=contributions[:, j], minlength=self.n_rows) for j in range(dense.shape[1])]
        return np.stack(columns, axis=1) if columns else np.zeros((self.n_rows, 0))

    def sum_by_label(self, labels: IntArray, n_labels: int) -> FloatArray:
        """Dense ``n_labels x n_cols`` sums of the rows sharing each label."""
        flat = labels[self._row_of_entry()] * self.n_cols + self.indices
        sums = np.bincount(flat, weights=self.data, minlength=n_labels * self.n_cols)
        return np.asarray(sums, dtype=np.float64).reshape(n_labels, self.n_cols)

    def row(self, index: int) -> FloatArray:
        """One row as a dense vector."""
        vector = np.zeros(self.n_cols)
        start, end = self.indptr[index], self.indptr[index + 1]
        vector[self.indices[start:end]] = self.data[start:end]
        return vector


def tfidf_rows(texts: Sequence[str], max_terms: int = 20_000) -> SparseRows:
    """L2-normalised TF-IDF rows (sublinear tf, smoothed idf) over a pruned vocabulary.

    Terms are lower-cased alphanumeric words of 2+ characters that start with a letter, minus a short
    stop list. On corpora of 50+ documents, terms in one document only or in more than half are dropped.
    """
    counts = [Counter(t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS) for text in texts]
    n_docs = len(texts)
    document_frequency: Counter[str] = Counter()
    for doc_counts in counts:
        document_frequency.update(doc_counts.keys())
    large = n_docs >= 50
    kept = [term for term, df in document_frequency.items() if not large or 2 <= df <= n_docs // 2]
    kept.sort(key=lambda term: (-document_frequency[term], term))
    vocabulary = {term: column for column, term in enumerate(kept[:max_terms])}
    idf = {term: math.log((1 + n_docs) / (1 + document_frequency[term])) + 1.0 for term in vocabulary}
    indptr: list[int] = [0]
    indices: list[int] = []
    data: list[float] = []
    for doc_counts in counts:
        entries = sorted(
            (vocabulary[t], (1.0 + math.log(c)) * idf[t]) for t, c in doc_counts.items() if t in vocabulary
        )
        norm = math.sqrt(sum(weight * weight for _, weight in entries)) or 1.0
        indices.extend(column for column, _ in entries)
        data.extend(weight / norm for _, weight in entries)
        indptr.append(len(indices))
    return SparseRows(
        indptr=np.asarray(indptr, dtype=np.int64),
        indices=np.asarray(indices, dtype=np.int64),
        data=np.asarray(data, dtype=np.float64),
        n_cols=len(vocabulary),
    )


def _similarities(points: SparseRows | FloatArray, centers: FloatArray) -> FloatArray:
    return points.dot(centers.T) if isinstance(points, SparseRows) else points @ centers.T


def _centers_from_labels(points: SparseRows | FloatArray, labels: IntArray, k: int) -> FloatArray:
    if isinstance(points, SparseRows):
        sums = points.sum_by_label(labels, k)
    else:
        sums = np.zeros((k, points.shape[1]))
        np.add.at(sums, labels, points)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.asarray(sums / np.where(norms > 0, norms, 1.0), dtype=np.float64)


def _initial_centers(points: SparseRows | FloatArray, k: int, rng: np.random.Generator) -> FloatArray:
    """k-means++ seeding on cosine distance."""
    n_rows = points.n_rows if isinstance(points, SparseRows) else points.shape[0]

    def row(index: int) -> FloatArray:
        return points.row(index) if isinstance(points, SparseRows) else np.asarray(points[index], dtype=np.float64)

    chosen = [int(rng.integers(n_rows))]
    closest = 1.0 - _similarities(points, row(chosen[0])[None, :])[:, 0]
    while len(chosen) < k:
        weights = np.clip(closest, 0.0, None) ** 2
        weights[chosen] = 0.0
        if weights.sum() <= 0:
            weights = np.ones(n_rows)
            weights[chosen] = 0.0
        nxt = int(rng.choice(n_rows, p=weights / weights.sum()))
        chosen.append(nxt)
        closest = np.minimum(closest, 1.0 - _similarities(points, row(nxt)[None, :])[:, 0])
    return np.stack([row(index) for index in chosen])


def spherical_kmeans(points: SparseRows | FloatArray, k: int, seed: int, max_iterations: int = 50) -> IntArray:
    """Cluster rows by cosine similarity into ``k`` non-empty clusters; the same seed gives the same labels.

    Dense rows are L2-normalised first; TF-IDF rows already are. A cluster that empties is refilled with
    the point least similar to its own centre, so every label in ``0..k-1`` is used.
    """
    if not isinstance(points, SparseRows):
        norms = np.linalg.norm(points, axis=1, keepdims=True)
        points = np.asarray(points / np.where(norms > 0, norms, 1.0), dtype=np.float64)
    n_rows = points.n_rows if isinstance(points, SparseRows) else points.shape[0]
    if not 1 <= k <= n_rows:
        raise ValueError(f"k must be between 1 and the number of rows ({n_rows}), got {k}")
    rng = np.random.default_rng(seed)
    centers = _initial_centers(points, k, rng)
    labels = np.full(n_rows, -1, dtype=np.int64)
    for _ in range(max_iterations):
        similarities = _similarities(points, centers)
        new_labels = np.asarray(np.argmax(similarities, axis=1), dtype=np.int64)
        best = similarities[np.arange(n_rows), new_labels]
        for empty in np.setdiff1d(np.arange(k), new_labels):
            sizes = np.bincount(new_labels, minlength=k)
            movable = np.flatnonzero(sizes[new_labels] > 1)
            victim = int(movable[np.argmin(best[movable])])
            new_labels[victim] = empty
            best[victim] = np.inf
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        centers = _centers_from_labels(points, labels, k)
    return labels
