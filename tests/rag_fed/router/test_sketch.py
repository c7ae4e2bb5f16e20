"""Site sketches: deterministic centroids, a privacy floor on cluster size, a compact wire form."""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.router import SiteSketch, build_sketch, sketch_score

pytestmark = pytest.mark.unit


def _clustered(rng: np.random.Generator, centres: np.ndarray, per_centre: int) -> np.ndarray:
    points = np.concatenate([c + 0.05 * rng.standard_normal((per_centre, centres.shape[1])) for c in centres])
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_centroids_find_the_topics_and_score_queries_by_them() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(16, dtype=np.float32)[:3]
    sketch = build_sketch("plant-1", "v1", _clustered(rng, centres, 40), max_centroids=3)
    assert sketch.centroids is not None and sketch.centroids.shape == (3, 16)
    assert sketch.chunk_count == 120
    # Every topic centre is close to one centroid; an unrelated direction is not.
    for centre in centres:
        assert sketch_score(centre, sketch) == pytest.approx(1.0, abs=0.02)
    assert sketch_score(np.eye(16, dtype=np.float32)[9], sketch) < 0.2


def test_same_seed_same_sketch_and_round_trip_is_exact() -> None:
    vectors = _clustered(np.random.default_rng(2), np.eye(8, dtype=np.float32)[:4], 10)
    first = build_sketch("plant-1", "v1", vectors, max_centroids=4)
    second = build_sketch("plant-1", "v1", vectors, max_centroids=4)
    assert first.centroids is not None and second.centroids is not None
    assert np.array_equal(first.centroids, second.centroids)
    wire = first.to_bytes()
    assert b"text" not in wire
    restored = SiteSketch.from_bytes(wire)
    assert restored.centroids is not None and np.array_equal(restored.centroids, first.centroids)


def test_no_centroid_summarises_fewer_than_the_floor() -> None:
    vectors = _clustered(np.random.default_rng(3), np.eye(8, dtype=np.float32)[:2], 3)  # 6 chunks
    sketch = build_sketch("tiny", "v1", vectors, max_centroids=16, min_cluster_size=5)
    assert sketch.centroids is not None
    assert sketch.centroids.shape[0] == 1, "6 chunks with a floor of 5 allow one centroid only"
    empty = build_sketch("empty", "v1", np.zeros((0, 8), dtype=np.float32))
    assert empty.centroids is None and sketch_score(np.ones(8, dtype=np.float32), empty) is None


def test_malformed_centroids_are_refused() -> None:
    with pytest.raises(ValueError, match="centroids"):
        SiteSketch.model_validate_json(
            b'{"site_id": "a", "embedder_version": "v", "chunk_count": 1, '
            b'"centroids": {"data": "AAAA", "shape": [2, 2]}}'
        )
