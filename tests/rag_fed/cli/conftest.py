"""The site commands against a data dir of their own: settings re-read per test, sites built with the hash
embedder (``tests/rag_fed/site/fake_embedders.py``) so that no model is loaded to make them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from rag_fed.cli.main import app
from rag_fed.config import get_settings

__all__ = ["data_dir", "run_cli"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RAGFED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def run_cli(*args: str) -> Result:
    """``ragfed ARGS`` in this process (the whole command, plugins included)."""
    return CliRunner().invoke(app, list(args))
