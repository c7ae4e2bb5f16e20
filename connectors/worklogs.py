"""Loader for maintenance work orders exported from a CMMS (.csv, .json, .jsonl): one document per row.

A work order is short ("L/H BUCKET CYL LEAKING.") and its value lies as much in its asset, date and
order type as in its text, so those become the title and metadata, and only the text is embedded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from connectors._columns import ResolvedColumns, WorkOrderColumns, resolve_columns
from connectors._records import RECORD_SUFFIXES, read_records
from connectors.base import Document, Section, SourceData
from connectors.errors import EmptyFileError

__all__ = ["WorkOrderBatch", "WorkOrderColumns", "WorkOrderConnector"]

_LOG = logging.getLogger(__name__)
# How exports spell "no value": R and pandas write NA / NaN, databases NULL.
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
# A work order is one short record: the document itself is the citation anchor, so no heading.
_SECTION_HEADING = ""


@dataclass(frozen=True)
class WorkOrderBatch:
    """All work orders of one file, the rows skipped for having no text, and the columns used."""

    documents: tuple[Document, ...]
    skipped_rows: tuple[int, ...]
    columns: ResolvedColumns


@dataclass
class WorkOrderConnector:
    """Turns each row of a work-order export into a ``Document(kind="work_order")``.

    Rows whose text columns are all empty are skipped (``read`` reports their numbers, ``load`` logs a
    warning); a file where every row is skipped raises ``EmptyFileError``.
    """

    columns: WorkOrderColumns = field(default_factory=WorkOrderColumns)
    suffixes: tuple[str, ...] = RECORD_SUFFIXES

    def load(self, source: SourceData) -> Iterator[Document]:
        batch = self.read(source)
        if batch.skipped_rows:
            _LOG.warning(
                "%s: skipped %d work-order rows with empty text (first: row %d)",
                source.name,
                len(batch.skipped_rows),
                batch.skipped_rows[0],
            )
        yield from batch.documents

    def read(self, source: SourceData) -> WorkOrderBatch:
        """Load every work order of ``source`` at once, with an account of the rows left out."""
        records = read_records(source)
        columns = resolve_columns(source.name, records.columns, self.columns)
        documents: list[Document] = []
        skipped: list[int] = []
        keys_seen: set[str] = set()
        for number, row in enumerate(records.rows, start=1):
            document = _work_order(source.name, number, row, columns, keys_seen)
            if document is None:
                skipped.append(number)
            else:
                documents.append(document)
        if not documents:
            raise EmptyFileError(
                source.name,
                f"none of the {len(records.rows)} rows has text in {', '.join(columns.text)}",
            )
        return WorkOrderBatch(documents=tuple(documents), skipped_rows=tuple(skipped), columns=columns)


def _work_order(
    source: str, number: int, row: Mapping[str, str], columns: ResolvedColumns, keys_seen: set[str]
) -> Document | None:
    texts = [(name, value) for name in columns.text if (value := _value(row, name))]
    if not texts:
        return None
    # One text column needs no label; with several, "Problem: …" / "Action: …" keeps them apart.
    text = texts[0][1] if len(columns.text) == 1 else "\n".join(f"{name}: {value}" for name, value in texts)
    work_order_id = _value(row, columns.id)
    key = work_order_id or f"row-{number}"
    if key in keys_seen:
        # Exports list one order per operation line; the row number keeps each document addressable.
        key = f"{key}#row-{number}"
    keys_seen.add(key)
    metadata = {
        role: value
        for role, column in (
            ("asset", columns.asset),
            ("date", columns.date),
            ("order_type", columns.order_type),
        )
        if (value := _value(row, column))
    }
    used = {columns.id, columns.asset, columns.date, columns.order_type, *columns.text}
    for name, value in row.items():
        if name not in used and _value(row, name):
            metadata.setdefault(name, value)
    return Document(
        source=source,
        title=_title(work_order_id, number, metadata),
        kind="work_order",
        sections=(Section(text=text, heading=_SECTION_HEADING),),
        key=key,
        metadata=metadata,
    )


def _value(row: Mapping[str, str], column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column, "").strip()
    return "" if value.casefold() in _MISSING else value


def _title(work_order_id: str, number: int, metadata: Mapping[str, str]) -> str:
    parts = [f"Work order {work_order_id}" if work_order_id else f"Work order (row {number})"]
    if asset := metadata.get("asset"):
        parts.append(f"asset {asset}")
    if date := metadata.get("date"):
        parts.append(date)
    return " · ".join(parts)
