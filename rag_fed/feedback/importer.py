"""Read an existing search or CMMS log (CSV, JSON array or JSON lines) into judgements for a site's log.

Each row names a question and the document an engineer accepted for it. Columns (case-insensitive; the
first present of each group is used): question ``question | query | q``; document ``doc_id | document |
document_id | accepted_document``; where in it ``anchor | section | heading`` or ``page`` (a PDF page, kept
as ``p<page>``); ``useful | accepted | relevant`` (default: useful; ``0/1``, ``true/false``, ``yes/no``);
``comment``. A malformed row fails the whole file with its row number, so nothing half-read is kept;
a row recorded before (same file name, question, document, place and judgement) is not recorded twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from rag_fed.errors import InputError
from rag_fed.feedback.log import FeedbackLog, NewJudgement

__all__ = ["MAX_IMPORT_ROWS", "ImportOutcome", "ImportedLog", "import_feedback_log", "read_feedback_log"]

MAX_IMPORT_ROWS = 200_000
_QUESTION = ("question", "query", "q")
_DOCUMENT = ("doc_id", "document", "document_id", "accepted_document")
_ANCHOR = ("anchor", "section", "heading")
_USEFUL = ("useful", "accepted", "relevant")
_TRUE = frozenset({"1", "true", "yes", "y", "useful", "accepted"})
_FALSE = frozenset({"0", "false", "no", "n", "not useful", "rejected"})


@dataclass(frozen=True)
class ImportedLog:
    source: str
    judgements: tuple[NewJudgement, ...]


@dataclass(frozen=True)
class ImportOutcome:
    source: str
    rows: int
    recorded: int
    already_recorded: int
    unknown_documents: int
    unknown_examples: tuple[str, ...]


def import_feedback_log(
    log: FeedbackLog, name: str, data: bytes, *, known_documents: Set[str], site_id: str, embedder_version: str
) -> ImportOutcome:
    """Parse ``data`` and record, in one transaction, its rows whose documents the site holds. Rows naming
    another document are counted, not recorded; ``InputError`` when no row names one of the site's."""
    imported = read_feedback_log(name, data, embedder_version=embedder_version)
    kept = [row for row in imported.judgements if row.doc_id in known_documents]
    unknown = sorted({row.doc_id for row in imported.judgements if row.doc_id not in known_documents})
    if not kept:
        raise InputError(
            f"{name}: none of its {len(imported.judgements)} rows names a document of site {site_id} (for example "
            f"{', '.join(unknown[:5])}); doc_id must be a document id as `ragfed docs list` shows it"
        )
    recorded = log.record_many(kept)
    return ImportOutcome(
        source=imported.source,
        rows=len(imported.judgements),
        recorded=recorded,
        already_recorded=len(kept) - recorded,
        unknown_documents=len(imported.judgements) - len(kept),
        unknown_examples=tuple(unknown[:5]),
    )


def read_feedback_log(name: str, data: bytes, *, embedder_version: str) -> ImportedLog:
    """Parse ``data`` (the file ``name``) into judgements of source ``import:<name>``."""
    source = f"import:{name}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    rows = list(_rows(name, text))
    if not rows:
        raise InputError(f"{name}: no rows; expected columns question and doc_id")
    if len(rows) > MAX_IMPORT_ROWS:
        raise InputError(f"{name}: {len(rows)} rows exceed the limit of {MAX_IMPORT_ROWS}; split the file")
    judgements = tuple(_judgement(name, number, row, source, embedder_version) for number, row in enumerate(rows, 1))
    return ImportedLog(source, judgements)


def _rows(name: str, text: str) -> Iterable[Mapping[str, object]]:
    stripped = text.lstrip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            if stripped[0] == "[":
                parsed = json.loads(stripped)
            else:
                parsed = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise InputError(f"{name}: invalid JSON at line {error.lineno}: {error.msg}") from None
        if not all(isinstance(row, dict) for row in parsed):
            raise InputError(f"{name}: every JSON row must be an object with question and doc_id")
        return [{str(k).casefold(): v for k, v in row.items()} for row in parsed]
    try:
        reader = csv.DictReader(io.StringIO(stripped))
        return [{str(k).strip().casefold(): v for k, v in row.items() if k is not None} for row in reader]
    except csv.Error as error:
        raise InputError(f"{name}: invalid CSV: {error}") from None


def _judgement(name: str, number: int, row: Mapping[str, object], source: str, version: str) -> NewJudgement:
    question = _first(row, _QUESTION)
    doc_id = _first(row, _DOCUMENT)
    if not question or not doc_id:
        raise InputError(f"{name}: row {number} needs a question and a document (columns question and doc_id)")
    anchor = _first(row, _ANCHOR)
    page = _first(row, ("page",))
    if not anchor and page:
        if not page.isdigit():
            raise InputError(f"{name}: row {number}: page {page!r} is not a page number")
        anchor = f"p{int(page)}"
    verdict = _first(row, _USEFUL).casefold()
    if verdict and verdict not in _TRUE | _FALSE:
        raise InputError(f"{name}: row {number}: {verdict!r} is not a judgement (use 1/0, true/false or yes/no)")
    useful = verdict not in _FALSE
    comment = _first(row, ("comment",)) or None
    key = "\x1f".join((source, " ".join(question.split()).casefold(), doc_id, anchor, str(useful)))
    return NewJudgement(
        request_id="import-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40],
        question=question,
        doc_id=doc_id,
        anchor=anchor,
        useful=useful,
        embedder_version=version,
        source=source,
        comment=comment,
    )


def _first(row: Mapping[str, object], names: tuple[str, ...]) -> str:
    for name in names:
        value = row.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""
