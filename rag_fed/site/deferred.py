"""An embedder loaded at its first use, for sites opened read-only by commands that may never embed.

``ragfed docs list`` reads a site's documents and needs no model; ``ragfed search`` needs it only for a
dense or hybrid query. Loading the model (torch, sentence-transformers) takes seconds, so a read-only
site carries this stand-in, which reports the version and dimension its store was built with and loads
the real embedder, checked against them, when asked to embed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.config import EmbedderSettings
from rag_fed.embedders.base import Embedder
from rag_fed.errors import IndexIntegrityError

__all__ = ["DeferredEmbedder"]


class DeferredEmbedder:
    """An ``Embedder`` that stands for the one a store was built with until something is embedded."""

    def __init__(self, settings: EmbedderSettings, model_version: str, dim: int, *, where: str) -> None:
        self._settings = settings
        self._version = model_version
        self._dim = dim
        self._where = where
        self._loaded: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._embedder().embed(texts)

    def _embedder(self) -> Embedder:
        with self._lock:
            if self._loaded is None:
                from rag_fed.embedders import load_embedder  # torch and sentence-transformers load here

                embedder = load_embedder(self._settings)
                if (embedder.model_version, embedder.dim) != (self._version, self._dim):
                    raise IndexIntegrityError(
                        f"{self._where} holds vectors of embedder version {self._version!r} (dim {self._dim}), but "
                        f"{self._settings.model} now loads {embedder.model_version!r} (dim {embedder.dim}); "
                        "restore that model, or re-embed the site for the new one"
                    )
                self._loaded = embedder
            return self._loaded
