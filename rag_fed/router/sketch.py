"""A site's sketch: k-means centroids of its chunk vectors, no text, used to decide whether to ask it.

The router scores a site by the best cosine between the query and any of its centroids, and uses each
centroid's cluster size (how many chunks it summarises) to judge how much of the answer the nearest
clusters can hold. Centroids are averages, but the average of one vector *is* that chunk's embedding, and
embeddings can be partly inverted to text; so every centroid summarises at least ``min_cluster_size``
chunks (a site with fewer chunks publishes one centroid of all of them). Sizes are counts only. Sketches
travel sealed to the gateway like replies.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator

from rag_fed.crypto.b64 import decode_b64, encode_b64
from rag_fed.crypto.ids import NODE_ID_PATTERN

__all__ = ["SiteSketch", "build_sketch", "centroid_sizes", "sketch_score"]

_MAX_CENTROIDS = 1024


def _to_matrix(value: object) -> NDArray[np.float32]:
    if isinstance(value, np.ndarray):
        matrix = np.asarray(value, dtype=np.float32)
    elif isinstance(value, dict) and isinstance(value.get("data"), str) and isinstance(value.get("shape"), list):
        rows, cols = (int(v) for v in value["shape"])
        raw = decode_b64(value["data"], what="centroids", size=rows * cols * 4)
        matrix = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(rows, cols)
    else:
        raise ValueError("centroids must be a float matrix or {data: base64 float32, shape: [rows, cols]}")
    if matrix.ndim != 2 or not 1 <= matrix.shape[0] <= _MAX_CENTROIDS or matrix.shape[1] < 1:
        raise ValueError(f"centroids must be 1..{_MAX_CENTROIDS} rows of at least one value, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("centroids contain NaN or infinite values")
    matrix.setflags(write=False)
    return matrix


def _matrix_to_json(matrix: NDArray[np.float32]) -> dict[str, object]:
    return {"data": encode_b64(matrix.astype("<f4").tobytes()), "shape": list(matrix.shape)}


Centroids = Annotated[
    NDArray[np.float32],
    PlainValidator(_to_matrix),
    PlainSerializer(_matrix_to_json, when_used="json"),
    WithJsonSchema({"type": "object", "description": "{data: base64url little-endian float32, shape}"}),
]


class SiteSketch(BaseModel):
    """What a site publishes about its index: centroids of its vectors for one embedder version."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    site_id: Annotated[str, Field(pattern=NODE_ID_PATTERN)]
    embedder_version: Annotated[str, Field(min_length=1, max_length=200)]
    chunk_count: int = Field(ge=0)
    centroids: Centroids | None = None
    sizes: tuple[int, ...] | None = Field(
        default=None, description="Chunks per centroid, in the order of the centroids (None: not published)."
    )

    @model_validator(mode="after")
    def _sizes_match_centroids(self) -> SiteSketch:
        if self.sizes is not None:
            rows = 0 if self.centroids is None else self.centroids.shape[0]
            if len(self.sizes) != rows or any(size < 0 for size in self.sizes):
                raise ValueError(f"sizes must be {rows} non-negative counts, one per centroid, got {self.sizes}")
        return self

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> SiteSketch:
        return cls.model_validate_json(data)


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
