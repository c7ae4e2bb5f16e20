"""``[training]`` in ragfed.toml: typed defaults of ``ragfed train``, refused when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rag_fed.config import Settings

pytestmark = pytest.mark.unit


def test_training_section_is_read_from_the_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ragfed.toml"
    config.write_text(
        '[training]\nstrategy = "fedprox"\nrounds = 7\nlearning_rate = 3e-5\nruns_dir = "/srv/runs"\n'
        "[training.dp]\nclipping_norm = 0.2\nnoise_multiplier = 1.5\n"
        "[training.pairs]\nmax_pairs = 500\n"
    )
    monkeypatch.setenv("RAGFED_CONFIG", str(config))
    training = Settings().training
    assert (training.strategy, training.rounds, training.learning_rate) == ("fedprox", 7, 3e-5)
    assert training.runs_dir == Path("/srv/runs")
    assert (training.dp.clipping_norm, training.dp.noise_multiplier) == (0.2, 1.5)
    assert training.pairs.max_pairs == 500
    assert Settings().embedder.model == "packaged"  # the other sections keep their defaults


def test_a_bad_training_value_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ragfed.toml"
    config.write_text('[training]\nstrategy = "fedsgd"\n')
    monkeypatch.setenv("RAGFED_CONFIG", str(config))
    with pytest.raises(ValidationError, match="strategy"):
        Settings()


def test_the_loss_and_the_pair_source_are_typed_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag_fed.training.settings import TrainingConfig

    defaults = Settings().training
    assert (defaults.loss, defaults.pairs.source, defaults.pairs.hard_negatives) == ("in_batch", "auto", 7)
    config = tmp_path / "ragfed.toml"
    config.write_text('[training]\nloss = "per_example"\n[training.pairs]\nsource = "both"\nhard_negatives = 2\n')
    monkeypatch.setenv("RAGFED_CONFIG", str(config))
    training = Settings().training
    assert (training.loss, training.pairs.source, training.pairs.hard_negatives) == ("per_example", "both", 2)
    # What `ragfed train` hands the sites: every [training] value but those of the coordinator alone.
    run = TrainingConfig.model_validate(training.model_dump(exclude={"runs_dir", "pairs", "dp", "adaptive"}))
    assert run.loss == "per_example"
    config.write_text('[training]\nloss = "triplet"\n')
    with pytest.raises(ValidationError, match="loss"):
        Settings()
    config.write_text('[training.pairs]\nsource = "chat"\n')
    with pytest.raises(ValidationError, match="source"):
        Settings()
