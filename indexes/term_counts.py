"""What BM25 needs to know about a store, read from FTS5 itself (``TermCounts``), and the query terms a
keyword query searches for (``QueryTerms``), tokenised exactly as the store tokenises its chunks.

A federation adds these up over its sites to score BM25 as one central index would
(docs/term-statistics.md); this module only reads them. ``version`` is ``keyword_seq``: the
``commit_seq`` of the last commit that added or removed chunks, written in that commit's own
transaction, so the counts and their version can never disagree, crash or not.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from indexes._sqlite_schema import BM25_WEIGHTS, QUERY_WORDS_SCHEMA, query_phrases

__all__ = ["QueryTerms", "TermCounts", "fts_tokens", "keyword_seq", "read_term_counts"]

_COLUMNS = ("text", "section", "title")
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class TermCounts:
    """One committed state of a store's keyword index.

    ``chunks``: rows of FTS5 (BM25's ``N``); ``column_tokens``: tokens per FTS5 column, in the order of
    ``BM25_WEIGHTS`` (FTS5's ``bm25()`` divides their sum by ``N`` for the mean length); ``frequencies``:
    the chunks that hold each term in any column (BM25's ``n``); ``max_terms_per_chunk``: the most
    distinct terms one chunk holds (how many counts one chunk can move), when it was asked for.
    """

    version: int
    chunks: int
    column_tokens: tuple[int, ...]
    frequencies: Mapping[str, int] = field(repr=False)
    max_terms_per_chunk: int | None = None

    @property
    def tokens(self) -> int:
        return sum(self.column_tokens)


def keyword_seq(conn: sqlite3.Connection) -> int:
    """The store's ``keyword_seq`` (``commit_seq`` for a store written before it was kept)."""
    row = conn.execute(
        "SELECT value FROM meta WHERE key IN ('keyword_seq', 'commit_seq') ORDER BY key = 'keyword_seq' DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row is not None else 0


def read_term_counts(conn: sqlite3.Connection, version: int, *, max_terms: bool = False) -> TermCounts:
    """The counts of the store on ``conn`` (which has ``TEMP_SCHEMA``); call it inside a read transaction
    that also read ``version``. ``max_terms`` also finds ``max_terms_per_chunk`` (it walks every token)."""
    for statement in _VOCAB_TABLES:  # not executescript: it would commit the caller's read transaction
        conn.execute(statement)
    chunks = int(conn.execute("SELECT count(*) FROM main.chunk_fts").fetchone()[0])
    per_column = dict(conn.execute("SELECT col, sum(cnt) FROM temp.chunk_term_columns GROUP BY col").fetchall())
    frequencies = {str(term): int(doc) for term, doc in conn.execute("SELECT term, doc FROM temp.chunk_terms")}
    most: int | None = None
    if max_terms:
        row = conn.execute(
            "SELECT max(n) FROM (SELECT count(DISTINCT term) AS n FROM temp.chunk_term_instances GROUP BY doc)"
        ).fetchone()
        most = int(row[0] or 0)
    return TermCounts(
        version=version,
        chunks=chunks,
        column_tokens=tuple(int(per_column.get(name, 0)) for name in _COLUMNS[: len(BM25_WEIGHTS)]),
        frequencies=frequencies,
        max_terms_per_chunk=most,
    )


_VOCAB_TABLES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_term_columns USING fts5vocab(main, chunk_fts, col)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_term_instances USING fts5vocab(main, chunk_fts, instance)",
)


class QueryTerms:
    """A keyword query's phrases and their tokens, as a store's FTS5 tokenizer makes them, without a store
    (the gateway looks up the federation's counts of a query's terms). Thread-safe; results cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.executescript(QUERY_WORDS_SCHEMA)
        self._tokens: dict[str, tuple[str, ...]] = {}

    def phrases(self, query: str) -> list[tuple[str, tuple[str, ...]]]:
        """``[(FTS5 phrase, its tokens)]`` in query order, as ``SQLiteDocStore.keyword_search`` searches."""
        phrases = query_phrases(query)
        with self._lock:
            new = [p for p in phrases if p not in self._tokens]
            if new:
                if len(self._tokens) + len(new) > _CACHE_LIMIT:
                    self._tokens.clear()
                words = [phrase[1:-1].replace('""', '"') for phrase in new]
                self._tokens.update(zip(new, fts_tokens(self._conn, words), strict=True))
            return [(p, self._tokens[p]) for p in phrases]

    def terms(self, query: str) -> list[str]:
        """The distinct tokens of the query's phrases, in query order."""
        return list(dict.fromkeys(token for _, tokens in self.phrases(query) for token in tokens))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def fts_tokens(conn: sqlite3.Connection, words: Sequence[str]) -> list[tuple[str, ...]]:
    """Each word's tokens as FTS5 indexes them (porter stems included), through ``temp.query_words`` of
    ``TEMP_SCHEMA`` on ``conn``."""
    conn.executemany("INSERT INTO temp.query_words(rowid, word) VALUES (?, ?)", list(enumerate(words)))
    try:
        found: dict[int, list[tuple[int, str]]] = {}
        for row, term, offset in conn.execute("SELECT doc, term, offset FROM temp.query_word_terms"):
            found.setdefault(int(row), []).append((int(offset), str(term)))
    finally:
        conn.execute("DELETE FROM temp.query_words")
    return [tuple(term for _, term in sorted(found.get(row, []))) for row in range(len(words))]
