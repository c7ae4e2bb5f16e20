"""Picks the loader for a file by its suffix and loads it, so callers never see a raw library error."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Connector, Document, SourceData
from connectors.errors import ConnectorError, CorruptFileError, EmptyFileError, UnsupportedFormatError
from connectors.html import HtmlConnector
from connectors.markdown import MarkdownConnector
from connectors.pdf import PdfConnector
from connectors.text import TextConnector
from connectors.worklogs import WorkOrderColumns, WorkOrderConnector

__all__ = ["SUPPORTED_SUFFIXES", "connector_for", "default_connectors", "load_documents"]


def default_connectors(work_order_columns: WorkOrderColumns | None = None) -> tuple[Connector, ...]:
    """One loader per supported format; ``work_order_columns`` maps the columns of work-order exports."""
    return (
        PdfConnector(),
        HtmlConnector(),
        MarkdownConnector(),
        TextConnector(),
        WorkOrderConnector(columns=work_order_columns or WorkOrderColumns()),
    )


SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(
    sorted(suffix for connector in default_connectors() for suffix in connector.suffixes)
)


def connector_for(source: SourceData, connectors: Sequence[Connector] | None = None) -> Connector:
    """The first of ``connectors`` (default: ``default_connectors()``) that handles the file's suffix."""
    candidates = default_connectors() if connectors is None else connectors
    for connector in candidates:
        if source.suffix in connector.suffixes:
            return connector
    supported = sorted({suffix for connector in candidates for suffix in connector.suffixes})
    found = f"suffix {source.suffix!r}" if source.suffix else "no suffix"
    raise UnsupportedFormatError(source.name, f"{found} is not supported; supported suffixes: {', '.join(supported)}")


def load_documents(source: SourceData, connectors: Sequence[Connector] | None = None) -> list[Document]:
    """Load every document of ``source`` with the loader for its suffix.

    Raises a ``ConnectorError`` subclass naming the file for every failure: a library error from inside
    a loader becomes ``CorruptFileError``, and a file that yields no document ``EmptyFileError``.
    """
    connector = connector_for(source, connectors)
    try:
        documents = list(connector.load(source))
    except ConnectorError:
        raise
    except MemoryError:
        # Running out of memory says nothing about the file; let the caller see it as it is.
        raise
    except Exception as exc:
        detail = str(exc).strip() or "no detail"
        raise CorruptFileError(
            source.name, f"{type(connector).__name__} could not parse it ({type(exc).__name__}: {detail})"
        ) from exc
    if not documents:
        raise EmptyFileError(source.name, "the file yielded no documents")
    return documents
