"""Embedders: the ``Embedder`` contract, the sentence-transformers backend and its factory."""

from __future__ import annotations

import threading
from pathlib import Path

from rag_fed.config import PACKAGED, EmbedderSettings
from rag_fed.embedders.base import Embedder
from rag_fed.embedders.packaged import packaged_minilm_path
from rag_fed.embedders.sentence_transformer import SentenceTransformerEmbedder
from rag_fed.errors import ModelError

__all__ = [
    "Embedder",
    "SentenceTransformerEmbedder",
    "clear_embedder_cache",
    "load_embedder",
    "packaged_minilm_path",
    "set_embedding_threads",
]

_CacheKey = tuple[Path, int, int]
_loaded: dict[_CacheKey, SentenceTransformerEmbedder] = {}
# Held while loading so that two threads asking for the same model at start-up load it once.
_loading = threading.Lock()


def load_embedder(settings: EmbedderSettings) -> Embedder:
    """The embedder the settings name (``packaged`` or a model folder), loaded once per process."""
    if settings.model == PACKAGED:
        path = packaged_minilm_path()
    else:
        path = Path(settings.model).expanduser()
        if not path.is_dir():
            raise ModelError(f"embedder.model {settings.model!r} is neither 'packaged' nor an existing model folder")
    key = (path.resolve(), settings.batch_size, settings.max_seq_length)
    with _loading:
        if key not in _loaded:
            _loaded[key] = SentenceTransformerEmbedder(
                key[0], batch_size=settings.batch_size, max_seq_length=settings.max_seq_length
            )
        return _loaded[key]


def clear_embedder_cache() -> None:
    """Forget loaded embedders, e.g. after a new model version was rolled out under the same path."""
    with _loading:
        _loaded.clear()


def set_embedding_threads(threads: int) -> None:
    """Run the embedders of this process on ``threads`` CPU threads (0: leave torch's default).

    Services set one: several site processes and a gateway share a machine's cores, and torch's
    threads then spin against each other (measured under load on 2 cores: 10 sentences in 87 ms on one
    thread, 868 ms on two). Process-wide, like torch's setting itself.
    """
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
