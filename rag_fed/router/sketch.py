"""Scoring a site's sketch at the router (the message: rag_fed.wire.sketch; built at the site)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rag_fed.wire.sketch import SiteSketch

__all__ = ["SiteSketch", "centroid_sizes", "sketch_score"]


def sketch_score(query: NDArray[np.float32], sketch: SiteSketch) -> float | None:
    """Max cosine between the query and the sketch's centroids; ``None`` if the site has none."""
    if sketch.centroids is None or sketch.centroids.shape[1] != query.shape[-1]:
        return None
    return float(np.max(sketch.centroids @ _normalise(query.reshape(1, -1))[0]))


def centroid_sizes(sketch: SiteSketch) -> NDArray[np.float64]:
    """Chunks per centroid; a sketch without sizes spreads its chunk count evenly over its centroids."""
    if sketch.centroids is None:
        return np.zeros(0, dtype=np.float64)
    if sketch.sizes is not None:
        return np.asarray(sketch.sizes, dtype=np.float64)
    rows = sketch.centroids.shape[0]
    return np.full(rows, sketch.chunk_count / rows, dtype=np.float64)


def _normalise(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalised
