"""bench/selection_scale.py --cost: its baseline (the per-site pass score_sites replaced) gives the same
scores and chunks ahead as score_sites, so the timing compares two ways to the same numbers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.selection_scale import per_site_loop, selection_cost
from rag_fed.router.selection import score_sites
from rag_fed.router.sketch import SiteSketch

pytestmark = pytest.mark.unit


def test_the_baseline_and_score_sites_agree_and_the_cost_table_has_a_row_per_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(3)
    sketches = {}
    for number in range(30):
        rows = rng.normal(size=(int(rng.integers(1, 17)), 8)).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        sizes = tuple(int(v) for v in rng.integers(5, 60, size=len(rows)))
        site = f"s{number}"
        sketches[site] = SiteSketch(
            site_id=site, embedder_version="v", chunk_count=sum(sizes), centroids=rows, sizes=sizes
        )
    for query in rng.normal(size=(5, 8)).astype(np.float32):
        now = score_sites(query, "v", sketches, sorted(sketches))
        before = per_site_loop(query, "v", sketches, sorted(sketches))
        assert now.keys() == before.keys()
        assert all(now[site] == pytest.approx(before[site], abs=1e-6) for site in now)
        assert now.chunks_ahead == pytest.approx(before.chunks_ahead)
    selection_cost([3, 5], blocks=1, rounds=2)
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [row[0] for row in rows] == ["3", "5"]
