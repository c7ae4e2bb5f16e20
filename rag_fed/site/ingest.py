"""The ingest pipeline of a site: files -> documents -> chunks -> vectors -> one atomic commit per batch.

Chunks of many documents are embedded together (work orders are one short chunk each, and embedding
them one at a time would waste most of the embedder's throughput); each flush is one store transaction,
so a process killed mid-ingest leaves the last committed batch, and a re-run skips what is stored by
content hash and writes the rest.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

# The loaders (bs4, pypdf, markdown-it) are imported where files are read: a site opened to list or
# search its documents never needs them.
from connectors import ConnectorError, Document, SourceData, chunk_document
from connectors import WorkOrderColumns as LoaderColumns
from indexes import ChunkDraft, DocumentEntry, SiteStore, UnknownRecordError
from rag_fed.config import IngestSettings
from rag_fed.embedders.base import Embedder

__all__ = ["FileResult", "IngestPipeline", "IngestReport", "document_id", "expand_paths"]

FileStatus = Literal["added", "updated", "unchanged", "failed"]


@dataclass(frozen=True)
class FileResult:
    """What happened to one file. ``documents``/``chunks`` count what was written.

    A failed file has ``error`` (naming the file) and ``reason`` (the same without the name, for a
    report that shows the name itself).
    """

    source: str
    status: FileStatus
    documents: int = 0
    chunks: int = 0
    unchanged: int = 0
    removed: int = 0
    error: str | None = None
    reason: str | None = None


@dataclass
class IngestReport:
    """Every file of a batch in the order it was done, and how long the batch took."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileResult]:
        return [result for result in self.files if result.status == "failed"]

    @property
    def chunks(self) -> int:
        return sum(result.chunks for result in self.files)

    @property
    def documents(self) -> int:
        return sum(result.documents for result in self.files)

    @property
    def removed(self) -> int:
        """Documents deleted because their file no longer holds them (records gone from a log)."""
        return sum(result.removed for result in self.files)

    @property
    def counts(self) -> dict[FileStatus, int]:
        """How many files ended in each status, every status present (0 when none did)."""
        counts: dict[FileStatus, int] = dict.fromkeys(get_args(FileStatus), 0)
        for result in self.files:
            counts[result.status] += 1
        return counts


@dataclass(frozen=True)
class _PendingDocument:
    entry: DocumentEntry
    drafts: list[ChunkDraft]
    embed_texts: list[str]


def expand_paths(paths: Sequence[Path]) -> Iterator[tuple[Path, Path]]:
    """Yield ``(file, root)`` for every file named or found under a named folder (hidden ones skipped).

    ``root`` is what document ids are made relative to: the folder that was named, or the file's own
    folder. Unsupported files inside folders are skipped; a named unsupported file is yielded so the
    caller reports it.
    """
    from connectors.registry import SUPPORTED_SUFFIXES

    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in found.relative_to(path).parts)
                if found.is_file() and not hidden and found.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield found, path
        else:
            yield path, path.parent


def document_id(relative_name: str, document: Document, documents_in_source: int) -> str:
    """A file that is one document is named by its path; a log's records by ``path/key``."""
    if documents_in_source == 1 and not document.key:
        return relative_name
    return f"{relative_name}/{document.key}"


def embed_text(title: str, section: str, text: str) -> str:
    """What the embedder sees: the chunk with its title and section, which carry most of its topic."""
    heading = f"{title} — {section}" if section and section != title else title
    return f"{heading}\n{text}" if heading else text


class IngestPipeline:
    """Ingests files into one site's store, reporting per file and carrying on past bad files."""

    def __init__(self, store: SiteStore, embedder: Embedder, settings: IngestSettings) -> None:
        self._store = store
        self._embedder = embedder
        self._settings = settings
        from connectors.registry import default_connectors

        columns = settings.work_orders
        self._connectors = default_connectors(
            LoaderColumns(
                id=columns.id,
                text=columns.text,
                asset=columns.asset,
                date=columns.date,
                order_type=columns.order_type,
            )
        )
        self._pending: list[_PendingDocument] = []
        self._pending_chunks = 0
        self._pending_deletes: list[str] = []
        self._pending_rehash: list[tuple[str, str]] = []  # (doc id, source hash) of unchanged documents

    def ingest_paths(self, paths: Sequence[Path], on_file: Callable[[FileResult], None] | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        for file_path, root in expand_paths(paths):
            relative = file_path.relative_to(root).as_posix() if file_path.is_relative_to(root) else file_path.name
            result = self._ingest_one(functools.partial(self._read, file_path), str(file_path.resolve()), relative)
            report.files.append(result)
            if on_file is not None:
                on_file(result)
        self._flush()
        report.seconds = time.perf_counter() - started
        return report

    def ingest_bytes(self, name: str, data: bytes) -> FileResult:
        """Ingest an upload. Its source is ``upload:<name>`` and its documents are named by ``name``."""
        if len(data) > self._settings.max_file_bytes:
            limit = self._settings.max_file_bytes
            reason = f"upload is {len(data)} bytes, over the limit of {limit}"
            return FileResult(name, "failed", error=f"{name}: {reason}", reason=reason)
        safe_name = Path(name).name or "upload"
        result = self._ingest_one(lambda: SourceData(name=safe_name, data=data), f"upload:{safe_name}", safe_name)
        self._flush()
        return result

    def _read(self, path: Path) -> SourceData:
        if not path.exists():
            raise ConnectorError(path, "no such file or folder")
        return SourceData.from_path(path, self._settings.max_file_bytes)

    def _ingest_one(self, read: Callable[[], SourceData], source: str, relative: str) -> FileResult:
        from connectors.registry import load_documents

        try:
            data = read()
            documents = load_documents(data, self._connectors)
        except ConnectorError as error:
            return FileResult(source, "failed", error=str(error), reason=error.reason)
        except OSError as error:
            reason = str(error.strerror or error)
            return FileResult(source, "failed", error=f"{source}: {reason}", reason=reason)
        named = [(document_id(relative, doc, len(documents)), doc) for doc in documents]
        return self._write(named, source, data.content_hash)

    def ingest_documents(self, source: str, documents: Sequence[tuple[str, Document]]) -> FileResult:
        """Ingest documents made in memory (a benchmark corpus, a connector run elsewhere), each under the
        id given; ``source`` groups them the way a file groups its records."""
        digest = hashlib.sha256()
        for doc_id, document in documents:
            digest.update(f"{doc_id}\0{document.content_hash}\0".encode())
        result = self._write(list(documents), source, digest.hexdigest())
        self._flush()
        return result

    def _write(self, named: list[tuple[str, Document]], source: str, source_hash: str) -> FileResult:
        existing = {doc.doc_id: doc for doc in self._store.docstore.list_documents(source=source)}
        if len(existing) == len(named) and all(
            doc_id in existing and existing[doc_id].source_hash == source_hash for doc_id, _ in named
        ):
            return FileResult(source, "unchanged", unchanged=len(named))
        written = chunks = unchanged = 0
        for doc_id, doc in named:
            stored = existing.get(doc_id)
            if stored is not None and stored.content_hash == doc.content_hash:
                unchanged += 1
                if stored.source_hash != source_hash:  # else every later ingest of these bytes re-reads the file
                    self._pending_rehash.append((doc_id, source_hash))
                continue
            pending = self._prepare(doc_id, doc, source, source_hash)
            written += 1
            chunks += len(pending.drafts)
            self._pending.append(pending)
            self._pending_chunks += len(pending.drafts)
        new_ids = {doc_id for doc_id, _ in named}
        stale = [doc_id for doc_id in existing if doc_id not in new_ids]
        self._pending_deletes.extend(stale)
        # Never in the middle of a file: a file commits whole or not at all (a killed upload left 512 of its
        # 5,485 rows served); small files still share a transaction up to about batch_chunks chunks.
        if self._pending_chunks >= self._settings.batch_chunks:
            self._flush()
        status: FileStatus = "added" if not existing else "updated" if written or stale else "unchanged"
        return FileResult(source, status, documents=written, chunks=chunks, unchanged=unchanged, removed=len(stale))

    def _prepare(self, doc_id: str, doc: Document, source: str, source_hash: str) -> _PendingDocument:
        pieces = chunk_document(doc, self._settings.chunk_chars, self._settings.chunk_overlap_chars)
        drafts = [ChunkDraft(p.text, p.ordinal, section=p.section, page=p.page, lines=p.lines) for p in pieces]
        entry = DocumentEntry(
            doc_id=doc_id,
            source=source,
            title=doc.title,
            kind=doc.kind,
            content_hash=doc.content_hash,
            source_hash=source_hash,
            metadata=dict(doc.metadata),
        )
        texts = [embed_text(doc.title, draft.section, draft.text) for draft in drafts]
        return _PendingDocument(entry, drafts, texts)

    def _flush(self) -> None:
        if not self._pending and not self._pending_deletes and not self._pending_rehash:
            return
        texts = [text for pending in self._pending for text in pending.embed_texts]
        step = self._settings.batch_chunks  # embedded in slices (a big file is one transaction, not one batch)
        parts = [self._embedder.embed(texts[start : start + step]) for start in range(0, len(texts), step)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, self._embedder.dim), np.float32)
        with self._store.transaction() as transaction:
            # Deletes first: a document id that moved to another file in this batch must survive.
            for doc_id in _unique(self._pending_deletes):
                with contextlib.suppress(UnknownRecordError):
                    transaction.delete_document(doc_id)
            offset = 0
            for pending in self._pending:
                count = len(pending.drafts)
                transaction.put_document(pending.entry, pending.drafts, vectors[offset : offset + count])
                offset += count
            for source_hash, doc_ids in _by_hash(self._pending_rehash).items():
                transaction.set_source_hash(doc_ids, source_hash)
        self._pending_rehash.clear()
        self._pending.clear()
        self._pending_chunks = 0
        self._pending_deletes.clear()


def _by_hash(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for doc_id, source_hash in pairs:
        grouped.setdefault(source_hash, []).append(doc_id)
    return grouped


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
