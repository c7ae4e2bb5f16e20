"""Building a site's sketch: spherical k-means over its chunk vectors (the message: rag_fed.wire.sketch)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rag_fed.wire.sketch import SiteSketch

__all__ = ["build_sketch"]


def build_sketch(
    site_id: str,
    embedder_version: str,
    vectors: NDArray[np.float32],
    *,
    max_centroids: int = 16,
    min_cluster_size: int = 5,
    max_points: int = 20_000,
    iterations: int = 15,
    seed: int = 0,
) -> SiteSketch:
    """Spherical k-means (cosine) over the site's normalised vectors, deterministic for a given seed.

    At most ``max_points`` vectors are sampled: centroids of a uniform sample are close to those of the
    whole set, and the cost stays bounded for large sites.
    """
    count = int(vectors.shape[0])
    if count == 0:
        return SiteSketch(site_id=site_id, embedder_version=embedder_version, chunk_count=0)
    rng = np.random.default_rng(seed)
    points = np.asarray(vectors, dtype=np.float32)
    if count > max_points:
        points = points[np.sort(rng.choice(count, size=max_points, replace=False))]
    clusters = max(1, min(max_centroids, len(points) // max(1, min_cluster_size)))
    centroids, members = _spherical_kmeans(_normalise(points), clusters, iterations, rng, min_cluster_size)
    # Counts of a sample stand for the whole site in proportion.
    sizes = tuple(round(float(size) * count / len(points)) for size in members)
    return SiteSketch(
        site_id=site_id, embedder_version=embedder_version, chunk_count=count, centroids=centroids, sizes=sizes
    )


def _normalise(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised


def _spherical_kmeans(
    points: NDArray[np.float32],
    clusters: int,
    iterations: int,
    rng: np.random.Generator,
    min_cluster_size: int,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Centroids and their member counts; clusters under the size floor are dropped, their members
    reassigned to the nearest kept centroid, so the counts always add up to ``len(points)``."""
    centroids = _plus_plus_init(points, clusters, rng)
    assignment = np.zeros(len(points), dtype=np.int64)
    for _ in range(iterations):
        assignment = np.argmax(points @ centroids.T, axis=1)
        updated = np.stack(
            [points[assignment == c].sum(axis=0) if np.any(assignment == c) else centroids[c] for c in range(clusters)]
        )
        updated = _normalise(updated)
        if np.allclose(updated, centroids, atol=1e-6):
            break
        centroids = updated
    # A cluster that ended up smaller than the privacy floor would publish near-individual embeddings.
    sizes = np.bincount(assignment, minlength=clusters)
    keep = sizes >= min(min_cluster_size, len(points))
    if not keep.any():
        return _normalise(points.mean(axis=0, keepdims=True)), np.array([len(points)], dtype=np.int64)
    kept = centroids[keep]
    members = np.bincount(np.argmax(points @ kept.T, axis=1), minlength=len(kept)).astype(np.int64)
    return kept, members


def _plus_plus_init(points: NDArray[np.float32], clusters: int, rng: np.random.Generator) -> NDArray[np.float32]:
    chosen = [int(rng.integers(len(points)))]
    distance = 1.0 - points @ points[chosen[0]]
    for _ in range(1, clusters):
        weights = np.clip(distance, 0.0, None)
        total = float(weights.sum())
        index = int(rng.choice(len(points), p=weights / total)) if total > 0 else int(rng.integers(len(points)))
        chosen.append(index)
        distance = np.minimum(distance, 1.0 - points @ points[index])
    return points[chosen].copy()
