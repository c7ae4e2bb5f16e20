"""Deterministic stand-ins for two embedder versions, for the re-embed tests (no model needed).

A text's vector is its words hashed into ``dim`` buckets with a per-version salt, so a query finds the
chunks that share its words under either version, and the two versions give different vectors.
``PausingEmbedder`` stops inside ``embed`` after some calls, so a test can act mid re-embed.
Run as a script, it is the site process of the crash test: it starts a re-embed and pauses in it.
"""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["HashEmbedder", "PausingEmbedder"]

DIM = 64


class HashEmbedder:
    def __init__(self, version: str, dim: int = DIM) -> None:
        self._version = version
        self._dim = dim
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_version(self) -> str:
        return self._version

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        vectors = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.md5(f"{self._version}:{word}".encode()).digest()
                vectors[row, int.from_bytes(digest[:4], "little") % self._dim] += 1.0
            vectors[row, 0] += 1e-3  # never all zero
        normalised: NDArray[np.float32] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return normalised


class PausingEmbedder(HashEmbedder):
    """Pauses in its ``pause_at``-th call to ``embed`` until ``resume`` is set (``paused`` says when)."""

    def __init__(self, version: str, pause_at: int) -> None:
        super().__init__(version)
        self.pause_at = pause_at
        self.paused = threading.Event()
        self.resume = threading.Event()

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self.calls + 1 == self.pause_at:
            self.paused.set()
            self.resume.wait(timeout=60)
        return super().embed(texts)


def _crash_site(data_dir: Path, site_id: str) -> None:
    """Open the site, start a re-embed to version B and stay paused in it until killed."""
    from rag_fed.config import IngestSettings, Settings
    from rag_fed.site import Site

    settings = Settings(data_dir=data_dir, ingest=IngestSettings(batch_chunks=2))
    site = Site.open(site_id, settings, embedder=HashEmbedder("fake-a@1"))
    embedder = PausingEmbedder("fake-b@2", pause_at=3)
    site.start_reembed(embedder, model="fake-b")
    embedder.paused.wait(timeout=60)
    print("paused", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    _crash_site(Path(sys.argv[1]), sys.argv[2])
