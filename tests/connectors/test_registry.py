"""Registry: loader choice by suffix, clear refusals, and no raw library error leaking out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import connectors
from connectors import SourceData, WorkOrderColumns, connector_for, default_connectors, load_documents
from connectors.base import Document
from connectors.errors import CorruptFileError, EmptyFileError, UnsupportedFormatError
from connectors.pdf import PdfConnector
from connectors.registry import SUPPORTED_SUFFIXES
from connectors.worklogs import WorkOrderConnector

pytestmark = pytest.mark.unit


@dataclass
class _ExplodingConnector:
    suffixes: tuple[str, ...] = (".txt",)

    def load(self, source: SourceData) -> Iterator[Document]:
        raise KeyError("/Root")


@dataclass
class _SilentConnector:
    suffixes: tuple[str, ...] = (".txt",)

    def load(self, source: SourceData) -> Iterator[Document]:
        return iter(())


def test_connector_is_chosen_by_suffix_ignoring_case() -> None:
    assert isinstance(connector_for(SourceData("MANUAL.PDF", b"")), PdfConnector)
    assert isinstance(connector_for(SourceData("logs/orders.jsonl", b"")), WorkOrderConnector)


def test_supported_suffixes_cover_every_format() -> None:
    expected = {
        ".pdf",
        ".html",
        ".htm",
        ".md",
        ".markdown",
        ".txt",
        ".text",
        ".log",
        ".csv",
        ".json",
        ".jsonl",
    }
    assert set(SUPPORTED_SUFFIXES) == expected
    assert connectors.SUPPORTED_SUFFIXES == SUPPORTED_SUFFIXES


def test_unknown_suffix_lists_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        connector_for(SourceData("drawing.dwg", b"AC1032"))
    message = str(caught.value)
    assert message.startswith("drawing.dwg: suffix '.dwg' is not supported")
    assert ".pdf" in message and ".jsonl" in message


def test_file_without_suffix_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormatError, match="no suffix"):
        load_documents(SourceData("README", b"text"))


def test_unexpected_loader_error_becomes_corrupt_file_error() -> None:
    with pytest.raises(CorruptFileError) as caught:
        load_documents(SourceData("odd.txt", b"x"), [_ExplodingConnector()])
    assert caught.value.source == "odd.txt"
    assert "KeyError" in caught.value.reason and "/Root" in caught.value.reason
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_loader_yielding_nothing_means_empty() -> None:
    with pytest.raises(EmptyFileError, match=r"quiet\.txt"):
        load_documents(SourceData("quiet.txt", b"x"), [_SilentConnector()])


def test_work_order_columns_reach_the_work_order_loader() -> None:
    mapping = WorkOrderColumns(text=["Fault"])
    loaders = [loader for loader in default_connectors(mapping) if isinstance(loader, WorkOrderConnector)]
    assert [loader.columns for loader in loaders] == [mapping]
    (document,) = load_documents(SourceData("o.csv", b"Fault,Note\nleak,seen twice\n"), default_connectors(mapping))
    assert document.text == "leak"


def test_package_is_a_leaf_and_imports_lightly() -> None:
    forbidden = "{'rag_fed', 'indexes', 'langchain_core'}"
    probe = f"import sys, connectors; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden})))"
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=repo)
    assert result.stdout.strip() == ""
