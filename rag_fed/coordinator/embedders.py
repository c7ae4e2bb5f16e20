"""The gateway's embedders: one per version some site serves, loaded on first use from the model registry.

During a rollout the sites serve two versions, and each must get the question embedded with its own;
the default embedder (``GatewaySettings.embedder``) is loaded at start, the others when a site is first
seen serving them. Loading is blocking (call from a worker thread) and happens once per version.
"""

from __future__ import annotations

import threading

from rag_fed.config import EmbedderSettings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ModelError
from rag_fed.federation.models import ModelRegistry

__all__ = ["EmbedderPool"]


class EmbedderPool:
    """``get(version)``: the embedder of that version, or the registry's ``NotFoundError`` naming the known ones."""

    def __init__(self, settings: EmbedderSettings, models: ModelRegistry, default: Embedder | None = None) -> None:
        self._settings = settings
        self._models = models
        self._default = default
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()
        if default is not None:
            self._loaded[default.model_version] = default

    @property
    def default(self) -> Embedder:
        """The embedder of the gateway's settings (``load_default`` must have run)."""
        if self._default is None:
            raise ModelError("the gateway's embedder is not loaded yet (the service was not started)")
        return self._default

    @property
    def versions(self) -> list[str]:
        """The versions loaded so far."""
        with self._lock:
            return sorted(self._loaded)

    def load_default(self) -> Embedder:
        with self._lock:
            if self._default is None:
                self._default = load_embedder(self._settings)
                self._loaded.setdefault(self._default.model_version, self._default)
            return self._default

    def get(self, version: str) -> Embedder:
        with self._lock:
            embedder = self._loaded.get(version)
            if embedder is not None:
                return embedder
            entry = self._models.get(version)
            embedder = load_embedder(self._settings.model_copy(update={"model": str(entry.path)}))
            if embedder.model_version != version:
                raise ModelError(
                    f"the model registry lists {entry.path} as {version!r}, but it holds {embedder.model_version!r}"
                )
            self._loaded[version] = embedder
            return embedder
