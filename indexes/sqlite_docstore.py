"""``SQLiteDocStore``: documents, chunks, chunk vectors and an FTS5 keyword index in one SQLite file.

SQLite is the site's commit log and source of truth. Every write happens in one ``BEGIN IMMEDIATE``
transaction (WAL journal, ``synchronous=NORMAL``, foreign keys on) that also advances ``commit_seq`` in
the ``meta`` table, so a crash leaves either all of a transaction or none of it, and derived structures
(the FAISS index) can tell whether they are behind. ``synchronous=NORMAL`` may lose the last commits on
power loss, never on a process crash; ``set_meta(durable=True)`` syncs fully, for the manifest.

A damaged file (not a database, malformed pages) raises ``IndexCorruptError``. One connection is shared
under a lock, so the store may be used from several threads of one process.

``read_only=True`` opens the file as a WAL reader (``_sqlite_connect``) beside the process that writes
it: every write is refused, keyword queries are ranked by FTS5 (the in-memory mirror is a writer's
structure), and ``snapshot()`` pins one committed state for a series of reads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from indexes._arrays import check_k
from indexes._fts_queries import FtsQueries
from indexes._keyword_mirror import KeywordMirror
from indexes._sqlite_checks import docstore_problems
from indexes._sqlite_connect import connect_docstore, has_chunk_column
from indexes._sqlite_schema import PRUNE_KEEP, PRUNE_SHARE, query_phrases
from indexes._sqlite_txn import ChunkChanges, SQLiteTransaction
from indexes.base import FloatMatrix, IdArray, StoredChunk, StoredDocument
from indexes.errors import IndexCorruptError, IndexStoreError, UnknownRecordError
from indexes.keyword_index import CorpusStats, KeywordRanking
from indexes.term_counts import TermCounts, keyword_seq, read_term_counts

__all__ = ["ChunkChanges", "SQLiteDocStore", "SQLiteTransaction"]

_CORRUPTION_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_ID_BATCH = 500  # stays far below SQLite's bound-parameter limit
_DOC_COLUMNS = "d.doc_id, d.source, d.title, d.kind, d.content_hash, d.source_hash, d.metadata, d.added_at"


class SQLiteDocStore:
    """The ``DocStore`` of a site. ``dim``, when given, is enforced on every stored vector.

    ``prune_share`` is the share of chunks above which a query term counts as common and may be dropped
    from keyword queries that FTS5 ranks (``prune_phrases``); 1.0 keeps every term.
    """

    prune_share: float = PRUNE_SHARE
    keyword_mirror: bool = True  # False: FTS5 ranks every keyword query (the benchmark's baseline)

    def __init__(self, path: Path, dim: int | None = None, *, read_only: bool = False) -> None:
        self._path = Path(path)
        self._dim = dim
        self._read_only = read_only
        self._lock = threading.RLock()
        self._in_transaction = False
        self._conn: sqlite3.Connection | None = None
        self._fts = FtsQueries()
        self._mirror = KeywordMirror(self._path)
        self._term_counts: TermCounts | None = None
        with self._lock, self._translate_errors():
            self._conn = connect_docstore(self._path, read_only=read_only)
            # A store written by older code, opened read-only, may lack the line-range columns.
            self._lines_sql = "c.line_start, c.line_end" if has_chunk_column(self._conn, "line_end") else "NULL, NULL"

    @property
    def path(self) -> Path:
        return self._path

    @property
    def commit_seq(self) -> int:
        return int(self.get_meta("commit_seq") or 0)

    @property
    def keyword_seq(self) -> int:
        """The ``commit_seq`` of the last commit that added or removed chunks: the version of the keyword
        index's term counts (``term_counts``). A store written before it was kept reports ``commit_seq``."""
        with self._guard() as conn:
            return keyword_seq(conn)

    @property
    def read_only(self) -> bool:
        return self._read_only

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads in the block (from this thread) all see one committed state, whatever is committed meanwhile."""
        with self._guard() as conn:
            if self._in_transaction:
                raise IndexStoreError("a transaction is already open on this docstore; read inside it")
            conn.execute("BEGIN")
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False
                conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        """All writes of the block commit together, or none (the block raised, or the commit failed)."""
        with self._guard() as conn:
            self._refuse_if_read_only()
            if self._in_transaction:
                raise IndexStoreError("a transaction is already open on this docstore; do the work in it")
            self._in_transaction = True
            txn = SQLiteTransaction(conn, self._dim)
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield txn
                if txn.wrote:
                    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'commit_seq'")
                seq = int(conn.execute("SELECT value FROM meta WHERE key = 'commit_seq'").fetchone()[0])
                if not txn.changes.empty:  # the version of the term counts moves with them, atomically
                    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('keyword_seq', ?)", (str(seq),))
                conn.execute("COMMIT")
                if not txn.changes.empty:
                    self._mirror.committed(seq, txn.changes.added, txn.changes.removed)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                txn.close()
                self._in_transaction = False

    def get_document(self, doc_id: str) -> StoredDocument:
        docs = self._documents("WHERE d.doc_id = ?", (doc_id,))
        if not docs:
            raise UnknownRecordError(f"no document {doc_id!r} is stored")
        return docs[0]

    def list_documents(self, source: str | None = None) -> list[StoredDocument]:
        if source is None:
            return self._documents("", ())
        return self._documents("WHERE d.source = ?", (source,))

    def content_hashes(self, source: str | None = None) -> dict[str, str]:
        """``{doc_id: content_hash}`` (of one source, or all), for skipping unchanged documents."""
        sql = "SELECT doc_id, content_hash FROM documents"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        with self._guard() as conn:
            return {str(doc_id): str(digest) for doc_id, digest in conn.execute(sql, args)}

    def get_chunks(self, chunk_ids: Sequence[int]) -> list[StoredChunk]:
        """The chunks in the requested order; an id that is not stored raises ``UnknownRecordError``."""
        wanted = list(dict.fromkeys(int(cid) for cid in chunk_ids))
        found: dict[int, StoredChunk] = {}
        with self._guard() as conn:
            for start in range(0, len(wanted), _ID_BATCH):
                batch = wanted[start : start + _ID_BATCH]
                rows = conn.execute(
                    "SELECT c.chunk_id, c.doc_id, d.title, c.ordinal, c.text, c.section, c.page, d.metadata,"
                    f" {self._lines_sql} FROM chunks c JOIN documents d ON d.doc_id = c.doc_id"
                    f" WHERE c.chunk_id IN ({','.join('?' * len(batch))})",
                    batch,
                )
                for cid, doc_id, title, ordinal, text, section, page, metadata, first, last in rows:
                    lines = (int(first), int(last)) if first is not None and last is not None else None
                    found[cid] = StoredChunk(
                        cid, doc_id, title, ordinal, text, section, page, json.loads(metadata), lines
                    )
        missing = [cid for cid in wanted if cid not in found]
        if missing:
            raise UnknownRecordError(f"no chunk stored with id(s) {missing[:10]}")
        return [found[int(cid)] for cid in chunk_ids]

    def iter_vectors(self, batch_size: int = 4096) -> Iterator[tuple[IdArray, FloatMatrix]]:
        """All chunk vectors in ascending chunk-id order, ``batch_size`` at a time."""
        after = -1
        while True:
            with self._guard() as conn:
                rows = conn.execute(
                    "SELECT chunk_id, vector FROM chunks WHERE chunk_id > ? ORDER BY chunk_id LIMIT ?",
                    (after, batch_size),
                ).fetchall()
            if not rows:
                return
            width = len(rows[0][1])
            if width == 0 or width % 4 or any(len(blob) != width for _, blob in rows):
                raise IndexCorruptError(f"docstore {self._path} holds chunk vectors of differing sizes")
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            blob = b"".join(row[1] for row in rows)
            yield ids, np.frombuffer(blob, dtype="<f4").astype(np.float32).reshape(len(rows), width // 4)
            after = int(ids[-1])

    def keyword_search(self, query: str, k: int, *, prune: bool = True) -> list[tuple[int, float]]:
        """``[(chunk_id, score)]`` best first by BM25 (score = -bm25, higher is better).

        The in-memory mirror of the FTS5 index ranks the query once it is built (``KeywordMirror``,
        started by the first keyword query or ``start_keyword_index``), with every query term. Until
        then FTS5 ranks it, and with ``prune`` drops the query's common terms first (``prune_phrases``):
        they add little to BM25 and make most of FTS5's cost on a large store.
        """
        return self.keyword_ranking(query, k, prune=prune).hits

    def keyword_ranking(
        self, query: str, k: int, *, prune: bool = True, stats: CorpusStats | None = None
    ) -> KeywordRanking:
        """``keyword_search``, with BM25 computed from ``stats`` (a federation's, docs/term-statistics.md)
        when they are given and cover every token of the query, and the in-memory index ranks: FTS5 can
        only score with its own counts. ``KeywordRanking.global_stats`` says which happened. When FTS5
        ranks, ``stats`` still decide which common terms are pruned, so every site drops the same ones."""
        k = check_k(k)
        phrases = query_phrases(query)
        if not phrases:
            return KeywordRanking([], stats is not None)
        with self._guard() as conn:
            tokens = self._fts.tokens_of(conn, phrases)
            if not self._read_only:
                self._mirror.start()
        wanted = {token for p in phrases for token in tokens[p]}
        if stats is not None and not wanted <= stats.frequencies.keys():
            stats = None  # a token the gateway did not count (another tokenizer version): own counts
        ranked = self._mirror.search([(p, tokens[p]) for p in phrases], k, stats) if self.keyword_mirror else None
        if ranked is not None:
            return KeywordRanking(ranked, stats is not None)
        with self._guard() as conn:
            if prune and len(phrases) > PRUNE_KEEP and self.prune_share < 1.0:
                phrases = self._fts.pruned(conn, phrases, tokens, self.prune_share, stats)
            return KeywordRanking(self._fts.rank(conn, phrases, k), False)

    def phrase_counts(self, query: str) -> dict[str, int]:
        """The chunks holding each phrase of several tokens of a keyword query (FTS5 phrase -> rows):
        what a federation sums for the phrases' BM25 (published counts are of single terms)."""
        phrases = query_phrases(query)
        with self._guard() as conn:
            tokens = self._fts.tokens_of(conn, phrases)
            return {phrase: self._fts.phrase_count(conn, phrase) for phrase in phrases if len(tokens[phrase]) > 1}

    def word_tokens(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        """Each word's tokens as the keyword index holds them (its own stemmer's), in order."""
        phrases = ['"' + word.replace('"', '""') + '"' for word in words]
        with self._guard() as conn:
            tokens = self._fts.tokens_of(conn, phrases)
        return [tokens[phrase] for phrase in phrases]

    def term_counts(self, *, max_terms: bool = False) -> TermCounts:
        """The keyword index's counts (``TermCounts``) as of one committed state; cached per ``keyword_seq``.
        ``max_terms`` also finds how many distinct terms the largest chunk holds (a walk of every token)."""
        with self._guard() as conn:
            if self._in_transaction:
                raise IndexStoreError("term_counts() reads its own snapshot: call it outside a transaction")
            conn.execute("BEGIN")
            try:
                version = keyword_seq(conn)
                cached = self._term_counts
                if cached is None or cached.version != version or (max_terms and cached.max_terms_per_chunk is None):
                    cached = read_term_counts(conn, version, max_terms=max_terms)
                    self._term_counts = cached
            finally:
                conn.execute("COMMIT")
            return cached

    def start_keyword_index(self, wait: float | None = 0.0) -> bool:
        """Start building the in-memory keyword index (``KeywordMirror``) in the background, as the first
        keyword query would; ``wait`` seconds for it (``None``: until built). Whether it is ready. A read-only
        docstore has no mirror (FTS5 ranks its keyword queries): ``False``."""
        with self._guard():
            if self._read_only:
                return False
            self._mirror.start()
        return self._mirror.wait(wait) if wait != 0.0 else self._mirror.ready

    def chunk_ids(self) -> IdArray:
        with self._guard() as conn:
            rows = conn.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id").fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def get_meta(self, key: str) -> str | None:
        with self._guard() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str, *, durable: bool = False) -> None:
        """Write one meta entry in its own transaction; ``durable`` fsyncs the WAL before returning."""
        with self._guard() as conn:
            self._refuse_if_read_only()
            if self._in_transaction:
                raise IndexStoreError("set_meta() cannot run inside an open transaction")
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")

    def verify(self) -> list[str]:
        """Problems found by SQLite's own checks and by cross-checking chunks with their FTS rows."""
        with self._guard() as conn:
            return docstore_problems(conn, self._dim, read_only=self._read_only)

    def close(self) -> None:
        with self._lock:
            self._mirror.close()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _documents(self, where: str, args: tuple[str, ...]) -> list[StoredDocument]:
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_DOC_COLUMNS}, count(c.chunk_id) FROM documents d"
                f" LEFT JOIN chunks c ON c.doc_id = d.doc_id {where}"
                " GROUP BY d.doc_id ORDER BY d.doc_id",
                args,
            ).fetchall()
        return [
            StoredDocument(doc_id, source, title, kind, content, src, json.loads(meta), added_at, n_chunks)
            for doc_id, source, title, kind, content, src, meta, added_at, n_chunks in rows
        ]

    def _refuse_if_read_only(self) -> None:
        if self._read_only:
            raise IndexStoreError(
                f"docstore {self._path} is open read-only: writes go through the process that holds the store"
            )

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock, hand out the open connection, translate corruption errors."""
        with self._lock, self._translate_errors():
            if self._conn is None:
                raise IndexStoreError(f"docstore {self._path} is closed")
            yield self._conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            # Extended codes (e.g. SQLITE_CORRUPT_VTAB) keep the primary code in the low byte.
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in _CORRUPTION_CODES:
                raise IndexCorruptError(
                    f"docstore {self._path} is damaged ({exc}); restore it from a backup or re-ingest"
                    " the site's documents"
                ) from exc
            raise
