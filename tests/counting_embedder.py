"""A real embedder wrapped to count the texts it embeds: for tests that check what a path embeds (or
that it embeds nothing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.embedders.base import Embedder

__all__ = ["CountingEmbedder"]


class CountingEmbedder:
    """``inner``, with every text it was asked to embed kept in :attr:`texts`."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def model_version(self) -> str:
        return self._inner.model_version

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += list(texts)
        return self._inner.embed(texts)
