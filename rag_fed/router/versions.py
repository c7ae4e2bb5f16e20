"""One query, several embedder versions: during a rollout some sites serve the new version and some the
old, and each must get the question embedded with the version it serves (vectors of two embedders are
never compared). ``QueryVectors`` computes the query's embedding for each version asked, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from rag_fed.errors import ModelError

__all__ = ["QueryEncoder", "QueryVectors"]

QueryEncoder = Callable[[str], NDArray[np.float32]]
"""Embeds the query being routed with the named embedder version. Blocking (the router runs it in a
worker thread); raises a ``RagFedError`` when it has no embedder of that version."""


class QueryVectors:
    """The query's embedding per embedder version: those given, the others from ``encode`` on demand."""

    def __init__(self, given: Mapping[str, NDArray[np.float32]], encode: QueryEncoder | None) -> None:
        self._encode = encode
        self._tasks: dict[str, asyncio.Future[NDArray[np.float32]]] = {}
        for version, vector in given.items():
            done: asyncio.Future[NDArray[np.float32]] = asyncio.get_running_loop().create_future()
            done.set_result(vector)
            self._tasks[version] = done

    async def get(self, version: str) -> NDArray[np.float32]:
        """The embedding for ``version``; concurrent callers share one computation."""
        task = self._tasks.get(version)
        if task is None:
            if self._encode is None:
                raise ModelError(f"no embedding of the query for embedder version {version!r} and no encoder")
            task = self._tasks[version] = asyncio.ensure_future(asyncio.to_thread(self._encode, version))
        # Shielded: a caller that hits its deadline must not cancel the computation others wait for.
        vector = await asyncio.shield(task)
        return np.asarray(vector, dtype=np.float32).reshape(-1)
