"""A stand-in for a federated training run's output: the packaged MiniLM with its top layer nudged.

Its weights differ (so it is another embedder version) while its embeddings stay close to the base
model's (so retrieval still finds the right passages), and it takes a second to write, not a training run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from rag_fed.embedders import packaged_minilm_path

__all__ = ["write_perturbed_minilm"]

_TENSOR = "encoder.layer.5.output.dense.weight"
_WEIGHTS = "model.safetensors"


def write_perturbed_minilm(parent: Path, name: str = "minilm-fed-r1", scale: float = 0.5, seed: int = 0) -> Path:
    """Write ``parent/name``: the packaged model with its last layer's output weights scaled by
    ``1 + scale * N(0, 1)`` elementwise."""
    folder = parent / name
    shutil.copytree(packaged_minilm_path(), folder)
    weights = folder / _WEIGHTS
    with safe_open(str(weights), framework="numpy") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(weights))
    rng = np.random.default_rng(seed)
    tensor = tensors[_TENSOR]
    tensors[_TENSOR] = (tensor * (1.0 + scale * rng.standard_normal(tensor.shape))).astype(tensor.dtype)
    save_file(tensors, str(weights), metadata=metadata)
    return folder
