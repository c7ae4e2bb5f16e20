"""Federated fine-tuning in Flower's simulation engine (Ray): a real run and a real unlearning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag_fed.config import TrainingSettings
from rag_fed.training.ledger import Ledger
from rag_fed.training.run import run_federated_training
from rag_fed.training.unlearning import UNLEARNING_RECORD, remove_site
from tests.rag_fed.training.conftest import synthetic_pairs

TINY = {
    "max_seq_length": 64,
    "train_top_layers": 1,
    "batch_size": 8,
    "learning_rate": 5e-4,
    "round_timeout_s": 600,
}


@pytest.mark.integration
def test_two_sites_one_round_of_fedavg(tmp_path: Path, site_pair_files: dict[str, Path]) -> None:
    config = TrainingSettings(rounds=1, strategy="fedavg", **TINY)  # type: ignore[arg-type]
    result = run_federated_training(site_pair_files, config, tmp_path / "run", num_cpus=2)
    [record] = result.rounds
    assert record.sites == ["plant-a", "plant-b"]
    ledger = Ledger.open(result.run_dir)
    base, trained = ledger.load_checkpoint(0), ledger.load_checkpoint(1)
    assert any(not np.array_equal(base[name], trained[name]) for name in base)
    assert (result.model_dir / "modules.json").is_file()
    assert result.version.startswith(result.model_dir.name + "@")
    assert set(result.evaluation) == {"plant-a", "plant-b"}


@pytest.mark.integration
@pytest.mark.slow
def test_unlearning_replays_rounds_without_the_removed_site(tmp_path: Path) -> None:
    from rag_fed.training.pairs import save_pairs

    sites = {
        name: save_pairs(tmp_path / f"{name}.jsonl", synthetic_pairs(offset, 24))
        for offset, name in enumerate(["plant-a", "plant-b", "plant-c"])
    }
    config = TrainingSettings(rounds=2, strategy="fedavg", **TINY)  # type: ignore[arg-type]
    trained = run_federated_training(sites, config, tmp_path / "run", num_cpus=2)
    assert all(r.sites == ["plant-a", "plant-b", "plant-c"] for r in trained.rounds)
    result = remove_site(trained.run_dir, "plant-c")
    assert result.rolled_back_to == 0 and result.replayed_rounds == (1, 2)
    rounds = Ledger.open(result.run_dir).rounds
    assert [r.sites for r in rounds] == [["plant-a", "plant-b"], ["plant-a", "plant-b"]]
    assert json.loads((result.run_dir / UNLEARNING_RECORD).read_text())["rounds_with_site_now"] == []
    assert result.version is not None and result.version != trained.version


@pytest.mark.integration
@pytest.mark.slow
def test_secure_aggregation_round_in_the_simulation_engine(tmp_path: Path) -> None:
    from rag_fed.training.pairs import save_pairs

    sites = {
        name: save_pairs(tmp_path / name / "pairs.jsonl", synthetic_pairs(offset, 16))
        for offset, name in enumerate(["plant-a", "plant-b", "plant-c"])
    }
    config = TrainingSettings(rounds=1, strategy="fedavg", min_sites=3, secure_aggregation=True, **TINY)  # type: ignore[arg-type]
    result = run_federated_training(sites, config, tmp_path / "run", num_cpus=2)
    [record] = result.rounds
    assert record.sites == ["plant-a", "plant-b", "plant-c"] and record.aggregated
    ledger = Ledger.open(result.run_dir)
    base, trained = ledger.load_checkpoint(0), ledger.load_checkpoint(1)
    assert any(not np.allclose(base[name], trained[name], atol=1e-5) for name in base)
