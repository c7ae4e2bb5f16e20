"""The ``Embedder`` contract: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Embedder"]


@runtime_checkable
class Embedder(Protocol):
    """``embed`` is the one primitive. ``model_version`` names the exact weights (it changes when a
    federated training run produces new ones), so vectors of two versions are never compared."""

    @property
    def dim(self) -> int: ...

    @property
    def model_version(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...
