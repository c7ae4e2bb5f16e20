"""A site's log of engineers' judgements on its own passages: what federated fine-tuning learns from.

Each row says that, for a question, a passage of this site (a document, and the page or innermost
heading an answer cited it by) was useful or not. Rows come from the engineers' chats (the gateway
forwards each judgement sealed to the site that owns the passage and keeps none of it) or from an
existing search or CMMS log a site admin imports. The log never leaves the site; training reads it at the
site (``rag_fed.training.feedback_pairs``). One SQLite file, 0600, in the site's folder; a judgement
carries the id of the request that gave it, so a judgement forwarded twice is recorded once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag_fed.errors import InputError, NotFoundError, RagFedError
from rag_fed.files import private_file

__all__ = [
    "FEEDBACK_FILE",
    "MAX_QUESTION_CHARS",
    "FeedbackLog",
    "FeedbackStats",
    "Judgement",
    "NewJudgement",
]

FEEDBACK_FILE = "feedback.db"
"""In the site's folder (``SiteLayout.root``)."""
MAX_QUESTION_CHARS = 2000
MAX_COMMENT_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    feedback_id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    given_at REAL NOT NULL,
    question TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    anchor TEXT NOT NULL,
    useful INTEGER NOT NULL,
    comment TEXT,
    conversation_id TEXT,
    embedder_version TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS judgements_by_source ON judgements (source);
"""
_COLUMNS = (
    "feedback_id, request_id, given_at, question, doc_id, anchor, useful, comment, conversation_id, "
    "embedder_version, source"
)


@dataclass(frozen=True)
class NewJudgement:
    """A judgement to record. ``anchor`` is where in the document the passage is, as answers cite it (a PDF
    page ``p12``, the innermost heading, or ``""`` for the whole document); ``source`` is ``chat`` or
    ``import:<file name>``; ``request_id`` makes recording it twice a no-op."""

    request_id: str
    question: str
    doc_id: str
    anchor: str
    useful: bool
    embedder_version: str
    source: str = "chat"
    comment: str | None = None
    conversation_id: str | None = None
    given_at: float | None = None

    def checked(self) -> NewJudgement:
        """Itself, or ``InputError`` naming the field that cannot be stored."""
        question = " ".join(self.question.split())
        if not question:
            raise InputError("a judgement needs the question it answers")
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"question of {len(question)} characters exceeds {MAX_QUESTION_CHARS}")
        if not self.doc_id.strip():
            raise InputError("a judgement needs the document it is about")
        if self.comment is not None and len(self.comment) > MAX_COMMENT_CHARS:
            raise InputError(f"comment of {len(self.comment)} characters exceeds {MAX_COMMENT_CHARS}")
        if not self.request_id or len(self.request_id) > 200:
            raise InputError("a judgement needs a request id of 1-200 characters")
        return NewJudgement(
            request_id=self.request_id,
            question=question,
            doc_id=self.doc_id.strip(),
            anchor=self.anchor.strip(),
            useful=self.useful,
            embedder_version=self.embedder_version,
            source=self.source,
            comment=self.comment,
            conversation_id=self.conversation_id,
            given_at=self.given_at,
        )


@dataclass(frozen=True)
class Judgement:
    """A recorded judgement, with the id a site admin deletes it by."""

    feedback_id: int
    request_id: str
    given_at: float
    question: str
    doc_id: str
    anchor: str
    useful: bool
    comment: str | None
    conversation_id: str | None
    embedder_version: str
    source: str


@dataclass(frozen=True)
class FeedbackStats:
    judgements: int
    useful: int
    not_useful: int
    questions: int
    documents: int
    by_source: dict[str, int]
    by_embedder_version: dict[str, int]


class FeedbackLog:
    """The site's judgements. Thread-safe; every call opens its own connection (WAL), so the site service
    and a ``ragfed feedback`` or training process may use the file at once."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open the log at ``path``, creating it unless ``read_only`` (then it must exist, and writes fail)."""
        self.path = path
        self.read_only = read_only
        self._lock = threading.Lock()
        if read_only:
            if not path.is_file():
                raise NotFoundError(f"no feedback log at {path}")
            return
        private_file(path)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    @classmethod
    def at_site(cls, site_root: Path) -> FeedbackLog:
        return cls(site_root / FEEDBACK_FILE)

    @classmethod
    def existing_at_site(cls, site_root: Path, *, read_only: bool = True) -> FeedbackLog | None:
        """The site's log if it ever received a judgement, else ``None`` (and no database file is created)."""
        path = site_root / FEEDBACK_FILE
        return cls(path, read_only=read_only) if path.is_file() else None

    def record(self, judgement: NewJudgement) -> tuple[Judgement, bool]:
        """Store ``judgement``; the stored row and whether it is new (``False``: that request id was
        recorded before, and the earlier row is returned unchanged)."""
        entry = judgement.checked()
        given_at = time.time() if entry.given_at is None else entry.given_at
        with self._lock, self._connect(writing=True) as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO judgements (request_id, given_at, question, doc_id, anchor, useful, comment, "
                "conversation_id, embedder_version, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.request_id,
                    given_at,
                    entry.question,
                    entry.doc_id,
                    entry.anchor,
                    int(entry.useful),
                    entry.comment,
                    entry.conversation_id,
                    entry.embedder_version,
                    entry.source,
                ),
            )
            created = cursor.rowcount == 1
            row = db.execute(f"SELECT {_COLUMNS} FROM judgements WHERE request_id = ?", (entry.request_id,)).fetchone()
        return _judgement(row), created

    def record_many(self, judgements: Sequence[NewJudgement]) -> int:
        """Store all of ``judgements`` in one transaction (all or none); how many were new."""
        entries = [judgement.checked() for judgement in judgements]
        now = time.time()
        with self._lock, self._connect(writing=True) as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO judgements (request_id, given_at, question, doc_id, anchor, useful, comment, "
                "conversation_id, embedder_version, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.request_id,
                        now if e.given_at is None else e.given_at,
                        e.question,
                        e.doc_id,
                        e.anchor,
                        int(e.useful),
                        e.comment,
                        e.conversation_id,
                        e.embedder_version,
                        e.source,
                    )
                    for e in entries
                ],
            )
            return db.total_changes - before

    def list(self, *, limit: int = 100, offset: int = 0, source: str | None = None) -> list[Judgement]:
        """The newest judgements first."""
        where, args = ("WHERE source = ?", [source]) if source is not None else ("", [])
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM judgements {where} ORDER BY feedback_id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [_judgement(row) for row in rows]

    def all(self) -> Iterator[Judgement]:
        """Every judgement, oldest first (what training reads)."""
        with self._connect() as db:
            for row in db.execute(f"SELECT {_COLUMNS} FROM judgements ORDER BY feedback_id"):
                yield _judgement(row)

    def stats(self) -> FeedbackStats:
        with self._connect() as db:
            total, useful, questions, documents = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(useful), 0), COUNT(DISTINCT question), COUNT(DISTINCT doc_id) "
                "FROM judgements"
            ).fetchone()
            by_source = dict(db.execute("SELECT source, COUNT(*) FROM judgements GROUP BY source ORDER BY source"))
            by_version = dict(
                db.execute(
                    "SELECT embedder_version, COUNT(*) FROM judgements GROUP BY embedder_version "
                    "ORDER BY embedder_version"
                )
            )
        return FeedbackStats(total, useful, total - useful, questions, documents, by_source, by_version)

    def delete(self, feedback_id: int) -> bool:
        """Remove one judgement; ``False`` if there is none of that id."""
        with self._lock, self._connect(writing=True) as db:
            return db.execute("DELETE FROM judgements WHERE feedback_id = ?", (feedback_id,)).rowcount == 1

    def delete_source(self, source: str) -> int:
        """Remove every judgement of one source (an import, or ``chat``); how many went."""
        with self._lock, self._connect(writing=True) as db:
            return db.execute("DELETE FROM judgements WHERE source = ?", (source,)).rowcount

    @contextmanager
    def _connect(self, *, writing: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction: committed on success, rolled back on error, then closed."""
        if writing and self.read_only:
            raise RagFedError(f"the feedback log {self.path} was opened read-only; open it to write to change it")
        if self.read_only:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", timeout=10, uri=True)
        else:
            db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()


def _judgement(row: tuple[object, ...]) -> Judgement:
    (feedback_id, request_id, given_at, question, doc_id, anchor, useful, comment, conversation, version, source) = row
    return Judgement(
        feedback_id=int(str(feedback_id)),
        request_id=str(request_id),
        given_at=float(str(given_at)),
        question=str(question),
        doc_id=str(doc_id),
        anchor=str(anchor),
        useful=bool(useful),
        comment=None if comment is None else str(comment),
        conversation_id=None if conversation is None else str(conversation),
        embedder_version=str(version),
        source=str(source),
    )
