"""The query embedder on its own torch thread count, while indexing keeps torch's default.

``torch.set_num_threads`` applies to the whole process, so setting it once for the query embedder would
also slow the documents' embedding at indexing (half speed on one thread of two cores). This wrapper sets
the count around each query embedding and restores the previous count after it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rag_fed.embedders.base import Embedder

__all__ = ["QueryThreadsEmbedder"]


class QueryThreadsEmbedder:
    """Embeds with ``threads`` torch threads and restores the process's count afterwards.

    Calls are serialised (the thread count is process state): use it for the query embedder, which the
    harness calls from one thread.
    """

    def __init__(self, embedder: Embedder, threads: int) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._embedder = embedder
        self.threads = threads
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._embedder.dim

    @property
    def model_version(self) -> str:
        return self._embedder.model_version

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import torch  # loaded by the embedder anyway

        with self._lock:
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                return self._embedder.embed(texts)
            finally:
                torch.set_num_threads(before)
