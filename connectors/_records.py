"""Reads the rows of a work-order export (CSV, JSON, JSON Lines) as string-valued records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors._textio import decode_text
from connectors.base import SourceData
from connectors.errors import CorruptFileError, EmptyFileError

__all__ = ["RECORD_SUFFIXES", "Records", "read_records"]

RECORD_SUFFIXES = (".csv", ".json", ".jsonl")
# Keys under which JSON exports (CMMS APIs, our own dumps) wrap their list of records.
_WRAPPER_KEYS = ("records", "work_orders", "workorders", "data", "items", "rows")
_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024


@dataclass(frozen=True)
class Records:
    """The header (in file order) and the rows; a row's number is its 1-based position among the rows."""

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]


def read_records(source: SourceData) -> Records:
    """Parse ``source`` by its suffix; raise ``CorruptFileError``/``EmptyFileError`` naming the place."""
    text = decode_text(source)
    if source.suffix == ".csv":
        records = _read_csv(source, text)
    elif source.suffix == ".jsonl":
        records = _from_objects(source, _read_jsonl(source, text))
    else:
        records = _from_objects(source, _read_json(source, text))
    if not records.rows:
        raise EmptyFileError(source.name, "the file has no work-order rows")
    return records


def _read_csv(source: SourceData, text: str) -> Records:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    try:
        header = next(reader, None)
        if header is None:
            raise EmptyFileError(source.name, "the CSV has no header row")
        columns = _unique_names(header)
        rows = [dict(zip(columns, (cell.strip() for cell in row), strict=False)) for row in reader if any(row)]
    except csv.Error as exc:
        raise CorruptFileError(source.name, f"CSV line {reader.line_num} cannot be parsed: {exc}") from exc
    return Records(columns=columns, rows=tuple(rows))


def _sniff_delimiter(text: str) -> str:
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        # A cut-off last line would mislead the sniffer's per-line counts.
        sample = sample[: sample.rindex("\n")]
    try:
        # Only the delimiter is taken: the sniffer's quote guess is fooled by apostrophes in free text
        # ("BUCKET WON'T OPEN"), while exports practically always quote with '"'.
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first_line = sample.split("\n", 1)[0]
        return max(_DELIMITERS, key=first_line.count) if any(d in first_line for d in _DELIMITERS) else ","


def _unique_names(header: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for position, raw in enumerate(header, start=1):
        name = raw.strip() or f"column_{position}"
        candidate, copy = name, 2
        while candidate in names:
            candidate, copy = f"{name}_{copy}", copy + 1
        names.append(candidate)
    return tuple(names)


def _read_json(source: SourceData, text: str) -> list[object]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(
            source.name, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise CorruptFileError(source.name, "the JSON is nested too deeply to read") from exc
    if isinstance(document, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
    if isinstance(document, list):
        return document
    raise CorruptFileError(
        source.name,
        "expected a JSON list of work-order objects, or an object with one of the keys "
        f"{', '.join(_WRAPPER_KEYS)} holding that list",
    )


def _read_jsonl(source: SourceData, text: str) -> list[object]:
    objects: list[object] = []
    # Split on "\n" only: str.splitlines() would also break at U+2028, which JSON strings may hold.
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise CorruptFileError(source.name, f"line {line_number} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise CorruptFileError(source.name, f"line {line_number} is not a JSON object")
        objects.append(value)
    return objects


def _from_objects(source: SourceData, objects: Iterable[object]) -> Records:
    columns: dict[str, None] = {}
    rows: list[dict[str, str]] = []
    for number, value in enumerate(objects, start=1):
        if not isinstance(value, dict):
            raise CorruptFileError(source.name, f"record {number} is a {type(value).__name__}, not an object")
        row = {str(key).strip(): _as_text(field) for key, field in value.items()}
        columns.update(dict.fromkeys(row))
        rows.append(row)
    return Records(columns=tuple(columns), rows=tuple(rows))


def _as_text(value: object) -> str:
    """Metadata is string-valued: numbers and booleans as JSON writes them, nested values as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
