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
    from rag_fed.config import TrainingSettings
    from rag_fed.training.instruction import instruction_json

    defaults = Settings().training
    assert (defaults.loss, defaults.pairs.source, defaults.pairs.hard_negatives) == ("in_batch", "auto", 7)
    config = tmp_path / "ragfed.toml"
    config.write_text('[training]\nloss = "per_example"\n[training.pairs]\nsource = "both"\nhard_negatives = 2\n')
    monkeypatch.setenv("RAGFED_CONFIG", str(config))
    training = Settings().training
    assert (training.loss, training.pairs.source, training.pairs.hard_negatives) == ("per_example", "both", 2)
    # What `ragfed train` hands the sites: every [training] value but those of the coordinator alone.
    run = TrainingSettings.model_validate_json(instruction_json(training))
    assert run.loss == "per_example"
    assert run.pairs.hard_negatives == 7, "how sites mine pairs is the coordinator's, not sent with the run"
    config.write_text('[training]\nloss = "triplet"\n')
    with pytest.raises(ValidationError, match="loss"):
        Settings()
    config.write_text('[training.pairs]\nsource = "chat"\n')
    with pytest.raises(ValidationError, match="source"):
        Settings()


def test_one_training_type_serves_the_file_and_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 18: [training] and a run's settings were two types whose defaults drifted (batch 32 against 16)
    from rag_fed.config import PrivacySettings, TrainingSettings
    from rag_fed.training.instruction import instruction_json

    assert TrainingSettings().batch_size == 32  # what docs/benchmarks.md measured with
    config = tmp_path / "ragfed.toml"
    config.write_text('[training]\nruns_dir = "/srv/runs"\n[training.adaptive]\nmetric_threshold = 0.05\n')
    monkeypatch.setenv("RAGFED_CONFIG", str(config))
    training = Settings().training
    # the file's [training.adaptive] gives the values --adaptive uses; it does not switch adaptive uploads on
    assert training.adaptive.metric_threshold == 0.05 and not training.adaptive_uploads
    run = training.model_copy(update={"privacy": PrivacySettings(mode="dp_sgd"), "adaptive_uploads": True})
    received = TrainingSettings.model_validate_json(instruction_json(run))
    assert received.privacy == PrivacySettings(mode="dp_sgd") and received.adaptive_uploads
    assert received.adaptive.metric_threshold == 0.05
    assert received.runs_dir is None, "the coordinator's folders stay with the coordinator"
    config.write_text("[training]\nbatch = 8\n")
    with pytest.raises(ValidationError, match="batch"):
        Settings()  # a misspelt key is refused, not ignored


def test_a_run_written_before_the_one_type_still_reads() -> None:
    # run.json of a run made by TrainingConfig: adaptive None when off, its values when on; no runs_dir or dp
    from rag_fed.training.ledger import RunManifest

    old = {"strategy": "fedavg", "batch_size": 16, "privacy": None, "secure_aggregation": False, "adaptive": None}
    manifest = RunManifest(run_id="r", base_model="packaged", trainable_names=[], config=old)
    settings = manifest.settings()
    assert (settings.batch_size, settings.adaptive_uploads) == (16, False)
    adaptive = {**old, "adaptive": {"metric_threshold": 0.02}}
    settings = manifest.model_copy(update={"config": adaptive}).settings()
    assert settings.adaptive_uploads and settings.adaptive.metric_threshold == 0.02
    new = settings.model_dump(mode="json")
    assert manifest.model_copy(update={"config": new}).settings() == settings
