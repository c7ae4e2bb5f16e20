"""Checks a site makes of a sealed query before it searches with it."""

from __future__ import annotations

import numpy as np

from rag_fed.errors import InputError
from rag_fed.protocol import SiteQuery

__all__ = ["MAX_EMBEDDING_NORM", "require_normalised"]

MAX_EMBEDDING_NORM = 1000.0
"""Embeddings are normalised (norm 1). Finite float32 values up to 3.4e38 overflow the site's scores to
infinity, which a reply cannot carry: such a query is answered ``failed`` with this reason instead."""


def require_normalised(query: SiteQuery) -> None:
    if query.embedding is None:  # keyword search without an answer: nothing was embedded
        return
    norm = float(np.linalg.norm(query.embedding.astype(np.float64)))
    if norm > MAX_EMBEDDING_NORM:
        raise InputError(
            f"query embedding has norm {norm:.3g}, over {MAX_EMBEDDING_NORM:g}: embeddings are normalised (norm 1), "
            "so the sender's embedder is broken"
        )
