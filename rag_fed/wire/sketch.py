"""The sketch message a site publishes: k-means centroids of its chunk vectors, no text.

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

from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.wire.arrays import decode_array, encode_array

__all__ = ["SiteSketch"]

_MAX_CENTROIDS = 1024


def _to_matrix(value: object) -> NDArray[np.float32]:
    if isinstance(value, np.ndarray):
        matrix = np.asarray(value, dtype=np.float32)
    elif isinstance(value, dict) and isinstance(value.get("data"), str) and isinstance(value.get("shape"), list):
        rows, cols = (int(v) for v in value["shape"])
        values = decode_array(value["data"], what="centroids", dtype="<f4")
        if values.size != rows * cols:
            raise ValueError(f"centroids: {values.size} values for shape [{rows}, {cols}]")
        matrix = values.astype(np.float32).reshape(rows, cols)
    else:
        raise ValueError("centroids must be a float matrix or {data: base64 float32, shape: [rows, cols]}")
    if matrix.ndim != 2 or not 1 <= matrix.shape[0] <= _MAX_CENTROIDS or matrix.shape[1] < 1:
        raise ValueError(f"centroids must be 1..{_MAX_CENTROIDS} rows of at least one value, got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("centroids contain NaN or infinite values")
    matrix.setflags(write=False)
    return matrix


def _matrix_to_json(matrix: NDArray[np.float32]) -> dict[str, object]:
    return {"data": encode_array(matrix, "<f4"), "shape": list(matrix.shape)}


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
