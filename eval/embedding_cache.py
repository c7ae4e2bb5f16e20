"""An embedder wrapper that embeds each distinct text once, so configurations (and runs) share vectors.

Every configuration of a benchmark indexes the same documents with the same embedder; on a 2-core
machine embedding is nearly all of the indexing time. The vectors are exactly those the wrapped
embedder returns (same model version, same dimension), so results do not change; only indexing time
shrinks. The cache can be saved to and loaded from a ``.npz`` file keyed by the model version, so
that runs with other splits or search modes reuse it. Use it for indexing only: query latency must be
measured on the real embedder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from eval._records import input_error
from rag_fed.embedders.base import Embedder

__all__ = ["CachingEmbedder"]


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachingEmbedder:
    """Wraps ``embedder``; ``hits`` and ``misses`` count texts served from the cache and embedded."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        return self._embedder.dim

    @property
    def model_version(self) -> str:
        return self._embedder.model_version

    @property
    def size(self) -> int:
        """How many distinct texts have a vector. (Not ``__len__``: an empty cache must stay truthy, since
        callers such as ``Site.open`` write ``embedder or load_embedder(...)``.)"""
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors of ``texts`` in order; texts not seen before are embedded together in one call."""
        keys = [_key(text) for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in self._vectors}
        if missing:
            fresh = self._embedder.embed(list(missing.values()))
            for key, vector in zip(missing, fresh, strict=True):
                self._vectors[key] = np.asarray(vector, dtype=np.float32)
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[key] for key in keys])

    def load(self, path: Path) -> int:
        """Add the vectors saved at ``path`` (if it exists and holds this model version); returns how many.

        A file of another model version is ignored (its vectors would not be comparable), not an error.
        """
        if not path.is_file():
            return 0
        try:
            with np.load(path, allow_pickle=False) as saved:
                if str(saved["model_version"]) != self.model_version:
                    return 0
                keys, vectors = saved["keys"], saved["vectors"]
        except (OSError, ValueError, KeyError) as error:
            raise input_error(path, None, f"not an embedding cache written by `ragfed eval run` ({error})") from error
        if vectors.ndim != 2 or vectors.shape != (len(keys), self.dim):
            raise input_error(
                path, None, f"vectors of shape {vectors.shape} do not fit {len(keys)} keys of dim {self.dim}"
            )
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            self._vectors.setdefault(str(key), np.asarray(vector, dtype=np.float32))
        return len(keys)

    def save(self, path: Path) -> None:
        """Write every cached vector to ``path`` (atomically: a temporary file renamed over it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        vectors = np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, self.dim), np.float32)
        temporary = path.with_name(path.name + ".tmp.npz")
        np.savez(temporary, model_version=np.str_(self.model_version), keys=np.array(keys), vectors=vectors)
        os.replace(temporary, path)
