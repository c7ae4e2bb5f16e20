"""The ``Embedder`` contract (``rag_fed.embedders.base.Embedder``): unit-norm float32 rows of ``dim``
columns, deterministic and independent of the batch, a paraphrase nearer than an unrelated sentence, and a
stable ``model_version``.

Subclass :class:`EmbedderContract`, name the subclass ``Test...``, and give it an ``embedder`` fixture.
"""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.embedders.base import Embedder

__all__ = ["QUESTION", "EmbedderContract"]

QUESTION = "How do I replace the hydraulic filter on the press?"
_PARAPHRASE = "Steps to change the hydraulic oil filter of the press"
_UNRELATED = "The cafeteria serves lunch from noon until two."


class EmbedderContract:
    """Subclass and provide an ``embedder`` fixture to check a backend."""

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError

    def test_is_an_embedder(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)

    def test_rows_are_unit_norm_float32_of_dim(self, embedder: Embedder) -> None:
        vectors = embedder.embed([QUESTION, _PARAPHRASE, _UNRELATED, ""])
        assert vectors.dtype == np.float32
        assert vectors.shape == (4, embedder.dim)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    def test_empty_input_has_shape_zero_by_dim(self, embedder: Embedder) -> None:
        vectors = embedder.embed([])
        assert vectors.shape == (0, embedder.dim)
        assert vectors.dtype == np.float32

    def test_is_deterministic_and_batch_independent(self, embedder: Embedder) -> None:
        batch = embedder.embed([QUESTION, _UNRELATED])
        np.testing.assert_array_equal(batch, embedder.embed([QUESTION, _UNRELATED]))
        # An index built in batches must match a query embedded alone.
        np.testing.assert_allclose(embedder.embed([QUESTION])[0], batch[0], atol=1e-5)

    def test_a_paraphrase_scores_above_an_unrelated_sentence(self, embedder: Embedder) -> None:
        question, paraphrase, unrelated = embedder.embed([QUESTION, _PARAPHRASE, _UNRELATED])
        assert float(question @ paraphrase) > float(question @ unrelated) + 0.2

    def test_model_version_is_a_stable_non_empty_string(self, embedder: Embedder) -> None:
        assert embedder.model_version
        assert embedder.model_version == embedder.model_version
        embedder.embed([QUESTION])
        assert embedder.model_version == embedder.model_version
