"""The round ledger and unlearning by roll-back and replay (with a stub trainer instead of Flower)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from rag_fed.errors import TrainingError
from rag_fed.training.ledger import Ledger, RoundRecord, RunManifest, arrays_digest
from rag_fed.training.unlearning import UNLEARNING_RECORD, remove_site

pytestmark = pytest.mark.unit

NAMES = ["layer.5.weight", "layer.5.bias"]


def weights(value: float) -> dict[str, np.ndarray]:
    return {
        "layer.5.weight": np.full((2, 2), value, np.float32),
        "layer.5.bias": np.full(2, value, np.float32),
    }


def stub_round(ledger: Ledger, round_number: int, sites: list[str]) -> None:
    """Global weights after a round = previous + one per contributing site (so history is visible)."""
    previous = ledger.load_checkpoint(round_number - 1)
    current = {name: value + len(sites) for name, value in previous.items()}
    path, digest = ledger.save_checkpoint(round_number, current)
    metrics = {site: {"val-mrr@10": 0.5} for site in [*sites, "late-joiner"]}
    ledger.append(
        RoundRecord(
            round=round_number,
            sites=sorted(sites),
            skipped=["late-joiner"],
            metrics=metrics,
            checkpoint=path,
            checkpoint_sha256=digest,
        )
    )


def stub_replay(run_dir: Path, sites: Mapping[str, Path], first: int, last: int) -> None:
    ledger = Ledger.open(run_dir)
    for round_number in range(first, last + 1):
        stub_round(ledger, round_number, sorted(sites))


@pytest.fixture()
def source_run(tmp_path: Path) -> Path:
    """Three rounds: plant-c joins in round 2 only; late-joiner only ever reported "no update"."""
    run_dir = tmp_path / "run"
    manifest = RunManifest(
        run_id="r1",
        base_model="packaged",
        trainable_names=NAMES,
        config={"min_sites": 2},
        site_pair_paths={s: f"/pairs/{s}.jsonl" for s in ["plant-a", "plant-b", "plant-c", "late-joiner"]},
    )
    ledger = Ledger.create(run_dir, manifest)
    ledger.save_checkpoint(0, weights(0.0))
    stub_round(ledger, 1, ["plant-a", "plant-b"])
    stub_round(ledger, 2, ["plant-a", "plant-b", "plant-c"])
    stub_round(ledger, 3, ["plant-a", "plant-b"])
    return run_dir


def test_ledger_answers_participation_questions(source_run: Path) -> None:
    ledger = Ledger.open(source_run)
    assert ledger.rounds_with("plant-c") == [2]
    assert ledger.rounds_with("plant-a") == [1, 2, 3]
    assert ledger.last_checkpoint_before("plant-c") == 1
    assert ledger.last_checkpoint_before("plant-a") == 0
    assert ledger.final_round() == 3
    assert float(ledger.load_checkpoint(3)["layer.5.bias"][0]) == 7.0
    with pytest.raises(TrainingError, match="contributed to no round"):
        ledger.last_checkpoint_before("late-joiner")


def test_ledger_checks_its_inputs(source_run: Path, tmp_path: Path) -> None:
    ledger = Ledger.open(source_run)
    with pytest.raises(TrainingError, match="already holds"):
        Ledger.create(source_run, ledger.manifest)
    with pytest.raises(TrainingError, match="not after"):
        ledger.append(ledger.rounds[0])
    with pytest.raises(TrainingError, match="do not match"):
        ledger.save_checkpoint(9, {"other": np.zeros(1)})
    with pytest.raises(TrainingError, match="not a training run"):
        Ledger.open(tmp_path / "nowhere")
    assert arrays_digest(weights(2.0)) == ledger.rounds[0].checkpoint_sha256


def test_remove_site_rolls_back_and_replays_without_it(source_run: Path) -> None:
    source_before = (source_run / "ledger.json").read_text()
    result = remove_site(source_run, "plant-c", replay=stub_replay, export=False)
    assert result.rolled_back_to == 1
    assert result.replayed_rounds == (2, 3)
    new = Ledger.open(result.run_dir)
    assert [r.round for r in new.rounds] == [1, 2, 3]
    assert all("plant-c" not in r.sites and "plant-c" not in r.metrics for r in new.rounds)
    # Round 1 is the source's (same weights); rounds 2-3 were trained again by the remaining sites.
    assert new.rounds[0].checkpoint_sha256 == Ledger.open(source_run).rounds[0].checkpoint_sha256
    assert float(new.load_checkpoint(3)["layer.5.bias"][0]) == 2.0 + 3.0 + 3.0
    manifest = new.manifest
    assert manifest.parent_run == str(source_run)
    assert manifest.removed_sites == ["plant-c"]
    assert "plant-c" not in manifest.site_pair_paths
    proof = json.loads((result.run_dir / UNLEARNING_RECORD).read_text())
    assert proof["source_rounds_with_site"] == [2]
    assert proof["rounds_with_site_now"] == []
    assert proof["rolled_back_to_round"] == 1
    assert proof["rolled_back_checkpoint_sha256"] == new.rounds[0].checkpoint_sha256
    assert (source_run / "ledger.json").read_text() == source_before


def test_removing_a_site_from_round_one_replays_everything(source_run: Path, tmp_path: Path) -> None:
    result = remove_site(source_run, "plant-a", out_dir=tmp_path / "without-a", replay=stub_replay, export=False)
    assert result.rolled_back_to == 0
    assert result.replayed_rounds == (1, 2, 3)
    assert json.loads((result.run_dir / UNLEARNING_RECORD).read_text())["rolled_back_checkpoint_sha256"] == (
        "initial weights"
    )


def test_remove_site_refuses_when_too_few_sites_would_remain(tmp_path: Path) -> None:
    manifest = RunManifest(
        run_id="r2",
        base_model="packaged",
        trainable_names=NAMES,
        config={"min_sites": 2},
        site_pair_paths={"plant-a": "/a", "plant-b": "/b"},
    )
    ledger = Ledger.create(tmp_path / "small", manifest)
    ledger.save_checkpoint(0, weights(0.0))
    stub_round(ledger, 1, ["plant-a", "plant-b"])
    with pytest.raises(TrainingError, match="pass min_sites"):
        remove_site(tmp_path / "small", "plant-b", replay=stub_replay, export=False)
    result = remove_site(tmp_path / "small", "plant-b", min_sites=1, replay=stub_replay, export=False)
    assert [r.sites for r in Ledger.open(result.run_dir).rounds] == [["plant-a"]]


def test_an_unfinished_unlearning_is_cleared_and_can_be_run_again(source_run: Path) -> None:
    def failing_replay(run_dir: Path, sites: Mapping[str, Path], first: int, last: int) -> None:
        raise TrainingError("a site went offline")

    with pytest.raises(TrainingError, match="offline"):
        remove_site(source_run, "plant-c", replay=failing_replay, export=False)
    result = remove_site(source_run, "plant-c", replay=stub_replay, export=False)
    assert [r.round for r in Ledger.open(result.run_dir).rounds] == [1, 2, 3]
    # A finished one is never overwritten.
    with pytest.raises(TrainingError, match="already holds"):
        remove_site(source_run, "plant-c", replay=stub_replay, export=False)
