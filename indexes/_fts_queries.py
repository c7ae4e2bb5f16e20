"""FTS5's part in a docstore's keyword queries: each query phrase's tokens as FTS5's own tokenizer makes
them, which common terms to drop (``prune_phrases``, by the chunks that hold each term), the ranking by
FTS5's ``bm25()`` and the chunks holding a phrase. Tokens and frequencies are cached per store: both walk
FTS5's tables. The caller (``SQLiteDocStore``) holds the connection's lock around every call."""

from __future__ import annotations

import sqlite3

from indexes._sqlite_schema import BM25_WEIGHTS, prune_phrases
from indexes.keyword_index import CorpusStats
from indexes.term_counts import fts_tokens

__all__ = ["FtsQueries"]

_CACHE_LIMIT = 100_000  # cached query terms and frequencies, each; cleared when full
_FREQUENCY_DRIFT = 0.1  # forget cached frequencies when the chunk count moved by more than this share
_KEYWORD_SQL = (
    "SELECT rowid, bm25(chunk_fts, {}) AS score FROM chunk_fts WHERE chunk_fts MATCH ? ORDER BY score LIMIT ?"
).format(", ".join(str(w) for w in BM25_WEIGHTS))
_COUNT_SQL = "SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH ?"


class FtsQueries:
    """The caches of one docstore's keyword queries."""

    def __init__(self) -> None:
        self._query_tokens: dict[str, tuple[str, ...]] = {}  # phrase -> its FTS5 tokens
        self._frequencies: dict[str, int] = {}  # index term -> chunks that contain it
        self._frequency_seq = -1  # commit_seq at which _chunk_count was read
        self._chunk_count = 0

    def rank(self, conn: sqlite3.Connection, phrases: list[str], k: int) -> list[tuple[int, float]]:
        """``[(chunk_id, score)]`` of the chunks matching any phrase, best first (score = -bm25)."""
        rows = conn.execute(_KEYWORD_SQL, (" OR ".join(phrases), k)).fetchall()
        return [(int(rowid), -float(score)) for rowid, score in rows]

    def phrase_count(self, conn: sqlite3.Connection, phrase: str) -> int:
        """The chunks matching ``phrase`` (an FTS5 phrase)."""
        return int(conn.execute(_COUNT_SQL, (phrase,)).fetchone()[0])

    def pruned(
        self,
        conn: sqlite3.Connection,
        phrases: list[str],
        tokens: dict[str, tuple[str, ...]],
        max_share: float,
        stats: CorpusStats | None = None,
    ) -> list[str]:
        """``phrases`` without their common terms (``prune_phrases``), counted by ``stats`` when given (the
        federation's counts: every site prunes the same terms), else by this store's own frequencies."""
        # A code (several tokens, or a token with a digit) has no term: it is never dropped.
        terms = {p: t[0] if len(t) == 1 and not any(c.isdigit() for c in t[0]) else None for p, t in tokens.items()}
        wanted = {term for term in terms.values() if term is not None}
        if stats is not None:
            shared = {term: int(stats.frequencies[term]) for term in wanted}
            return prune_phrases(phrases, terms, shared, stats.rows, max_share=max_share)
        frequencies = self._frequencies_of(conn, wanted)
        return prune_phrases(phrases, terms, frequencies, self._chunk_count, max_share=max_share)

    def tokens_of(self, conn: sqlite3.Connection, phrases: list[str]) -> dict[str, tuple[str, ...]]:
        """Each phrase's tokens, by FTS5 itself (porter stems are not ours to guess); cached."""
        new = [p for p in phrases if p not in self._query_tokens]
        if new:
            if len(self._query_tokens) + len(new) > _CACHE_LIMIT:
                self._query_tokens.clear()
            words = [phrase[1:-1].replace('""', '"') for phrase in new]
            self._query_tokens.update(zip(new, fts_tokens(conn, words), strict=True))
        return {p: self._query_tokens[p] for p in phrases}

    def _frequencies_of(self, conn: sqlite3.Connection, terms: set[str]) -> dict[str, int]:
        """Chunks containing each term. Cached: counting walks a term's whole posting list. The cache
        is forgotten once the chunk count has moved by more than ``_FREQUENCY_DRIFT``; frequencies only
        steer pruning, so a little staleness is harmless."""
        seq = int(conn.execute("SELECT value FROM meta WHERE key = 'commit_seq'").fetchone()[0])
        if seq != self._frequency_seq:
            count = int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
            if abs(count - self._chunk_count) > _FREQUENCY_DRIFT * self._chunk_count:
                self._frequencies.clear()
            self._frequency_seq, self._chunk_count = seq, count
        if len(self._frequencies) + len(terms) > _CACHE_LIMIT:
            self._frequencies.clear()
        for term in terms - self._frequencies.keys():
            row = conn.execute("SELECT doc FROM temp.chunk_terms WHERE term = ?", (term,)).fetchone()
            self._frequencies[term] = 0 if row is None else int(row[0])
        return {term: self._frequencies[term] for term in terms}
