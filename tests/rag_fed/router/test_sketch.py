"""Site sketches: deterministic centroids, a privacy floor on cluster size, a compact wire form."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from rag_fed.router import SiteSketch, sketch_score
from rag_fed.router.sketch import centroid_sizes
from rag_fed.site.sketch import build_sketch

pytestmark = pytest.mark.unit


def _clustered(rng: np.random.Generator, centres: NDArray[np.float32], per_centre: int) -> NDArray[np.float32]:
    points = np.concatenate([c + 0.05 * rng.standard_normal((per_centre, centres.shape[1])) for c in centres])
    normalised: NDArray[np.float32] = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    return normalised


def test_centroids_find_the_topics_and_score_queries_by_them() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(16, dtype=np.float32)[:3]
    sketch = build_sketch("plant-1", "v1", _clustered(rng, centres, 40), max_centroids=3)
    assert sketch.centroids is not None and sketch.centroids.shape == (3, 16)
    assert sketch.chunk_count == 120
    # Every topic centre is close to one centroid; an unrelated direction is not.
    for centre in centres:
        assert sketch_score(centre, sketch) == pytest.approx(1.0, abs=0.02)
    unrelated = sketch_score(np.eye(16, dtype=np.float32)[9], sketch)
    assert unrelated is not None and unrelated < 0.2


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


def test_sizes_count_every_chunk_once_and_never_below_the_floor() -> None:
    vectors = _clustered(np.random.default_rng(4), np.eye(16, dtype=np.float32)[:4], 25)
    sketch = build_sketch("plant-1", "v1", vectors, max_centroids=8, min_cluster_size=5)
    assert sketch.centroids is not None and sketch.sizes is not None
    assert len(sketch.sizes) == sketch.centroids.shape[0] and sum(sketch.sizes) == 100
    assert min(sketch.sizes) >= 5
    assert SiteSketch.from_bytes(sketch.to_bytes()).sizes == sketch.sizes
    sampled = build_sketch("plant-1", "v1", vectors, max_centroids=4, max_points=40)
    assert sampled.sizes is not None and sum(sampled.sizes) == pytest.approx(100, abs=len(sampled.sizes))
    assert np.array_equal(centroid_sizes(sketch), np.asarray(sketch.sizes, dtype=np.float64))
    unsized = sketch.model_copy(update={"sizes": None})
    assert centroid_sizes(unsized) == pytest.approx(np.full(len(sketch.sizes), 100 / len(sketch.sizes)))


def test_sizes_must_match_the_centroids() -> None:
    with pytest.raises(ValueError, match="sizes"):
        SiteSketch(site_id="a", embedder_version="v", chunk_count=3, centroids=np.eye(2, dtype=np.float32), sizes=(3,))
    with pytest.raises(ValueError, match="sizes"):
        SiteSketch(site_id="a", embedder_version="v", chunk_count=0, sizes=(-1,))
