"""The package's front door: the names a user starts from, its version, and a cheap ``import rag_fed``."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata

import pytest

import rag_fed


def test_version_is_the_installed_distributions() -> None:
    assert rag_fed.__version__ == metadata.version("rag-fed")


@pytest.mark.parametrize("name", [name for name in rag_fed.__all__ if name != "__version__"])
def test_each_exported_name_is_the_object_its_module_defines(name: str) -> None:
    exported = getattr(rag_fed, name)
    module = importlib.import_module(rag_fed._EXPORTS[name])
    assert exported is getattr(module, name)
    assert name in dir(rag_fed)


def test_all_lists_exactly_the_exports() -> None:
    assert sorted(rag_fed.__all__) == sorted(["__version__", *rag_fed._EXPORTS])


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'Sight'"):
        _ = rag_fed.Sight  # type: ignore[attr-defined]


def test_importing_the_package_loads_neither_faiss_nor_torch() -> None:
    probe = "import sys, rag_fed; print(sorted(m for m in ('faiss', 'torch', 'rag_fed.site') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
