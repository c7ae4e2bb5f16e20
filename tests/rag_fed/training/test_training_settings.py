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
