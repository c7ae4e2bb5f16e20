"""The training benchmark runs end to end on a small slice of Cranfield and reports what it promises.

Benchmarks are not timed tests; this one only checks that the script still runs and that its numbers
are consistent (the cached-layer evaluation equals ``model.encode``), so a refactor cannot break the
command docs/benchmarks.md gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SHARED_DATASETS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (SHARED_DATASETS / "cranfield").is_dir(), reason="../shared/datasets is not here"),
]


def run_bench(script: str, out: Path, *options: str) -> dict[str, Any]:
    """Run ``bench/<script>`` on the shared datasets; its JSON report."""
    command = [
        sys.executable, "-u", str(REPO / "bench" / script), *options, "--out", str(out),
        "--datasets", str(SHARED_DATASETS),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_centralized_probe_reports_base_and_trained_ndcg(tmp_path: Path) -> None:
    options = ("--only", "centralized", "--rounds", "1", "--max-docs", "60", "--sentence-pairs", "1")
    report = run_bench("federated_training.py", tmp_path / "report.json", *options)
    assert report["prefix_cache_max_abs_diff"] < 1e-4
    assert set(report["ndcg@10"]) == {"base", "centralized"}
    assert all(0.0 < value <= 1.0 for value in report["ndcg@10"].values())
    assert report["ndcg@10"]["centralized"] != report["ndcg@10"]["base"]  # training moved the model
    assert sum(report["train_pairs_per_site"].values()) > 60  # titles plus cloze pairs


def test_feedback_bench_folds_report_base_and_centralized(tmp_path: Path) -> None:
    options = ("--dataset", "emanual_s10", "--folds", "2", "--rounds", "1", "--hard-negatives", "1")
    report = run_bench("feedback_training.py", tmp_path / "feedback.json", *options)
    assert set(report["ndcg@10"]) == set(report["recall@100"]) == {"base", "centralized"}
    assert all(0.0 < value <= 1.0 for value in report["ndcg@10"].values())
    assert [fold["held out"] for fold in report["folds"]] == [25, 25]
    assert all(fold["train pairs"] > 10 for fold in report["folds"])
