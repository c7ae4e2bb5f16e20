"""``KeywordMirror``: keeps a ``KeywordIndex`` in step with a docstore's FTS5 table, as FAISS is kept in
step with its vectors: SQLite stays the commit log, the mirror is derived and rebuildable.

- ``start()`` builds the index in a background thread from one read snapshot of FTS5 (its own tokens,
  read through ``fts5vocab``), on a connection of its own, so the store keeps serving meanwhile; until
  it is ready, ``search`` returns ``None`` and the docstore asks FTS5 itself.
- The docstore reports every commit (``committed``: its ``commit_seq`` and the chunks it added and
  removed). Before searching, the mirror applies the commits it has not seen: removed chunks go, added
  ones are tokenised by FTS5 (a scratch FTS5 table with the same tokenizer) and come in. When more than
  a fifth of the store changed since the build, it rebuilds in the background instead.
- A phrase of several tokens (a part number such as ``MS-4471``) needs token positions, which the
  index does not keep: FTS5 scores that phrase alone and the index adds its scores in.
- Any failure of the mirror is logged and leaves keyword search to FTS5; it never loses a commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from indexes._sqlite_schema import BM25_WEIGHTS, TOKENIZER
from indexes.keyword_index import CorpusStats, KeywordIndex, Postings, Scored

__all__ = ["KeywordMirror"]

_log = logging.getLogger(__name__)
_COLUMNS = len(BM25_WEIGHTS)
_WEIGHTS = np.asarray(BM25_WEIGHTS, np.float64)
_REBUILD_SHARE = 0.2  # rebuild rather than catch up when this share of the store changed
_MIN_CATCH_UP = 2_000  # ... but always catch up on this many chunks
_BATCH = 2_000

_SCRATCH_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS temp.mirror_scratch USING fts5(text, section, title, tokenize = '{TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.mirror_scratch_terms USING fts5vocab(temp, mirror_scratch, instance);
CREATE VIRTUAL TABLE IF NOT EXISTS temp.mirror_chunk_terms USING fts5vocab(main, chunk_fts, instance);
"""
# fts5vocab names the column; the weights go by its position in chunk_fts.
_COLUMN_NUMBER = "CASE col WHEN 'text' THEN 0 WHEN 'section' THEN 1 WHEN 'title' THEN 2 END"
# One row per term: every (chunk, column) it occurs in, once per occurrence, as chunk * 4 + column.
_PHRASE_SQL = "SELECT rowid, bm25(chunk_fts, {}) FROM main.chunk_fts WHERE chunk_fts MATCH ?".format(
    ", ".join(str(w) for w in BM25_WEIGHTS)
)
_POSTINGS_SQL = f"SELECT term, group_concat(doc * 4 + {_COLUMN_NUMBER}, ' ') FROM temp.{{}} GROUP BY term"


class KeywordMirror:
    """See the module docstring. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._index: KeywordIndex | None = None
        self._seq = -1  # commit_seq the index reflects
        self._pending: list[tuple[int, list[int], list[int]]] = []  # commits since: (seq, added, removed)
        self._building: threading.Thread | None = None
        self._closed = threading.Event()
        self._conn: sqlite3.Connection | None = None  # for catch-up and phrases, under _lock

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._index is not None

    def start(self) -> None:
        """Build the index in the background, unless it is built or being built."""
        with self._lock:
            if self._index is None:
                self._start_build()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running build; whether the index is ready."""
        thread = self._building
        if thread is not None:
            thread.join(timeout)
        return self.ready

    def committed(self, seq: int, added: Iterable[int], removed: Iterable[int]) -> None:
        """Note a commit of the docstore (called right after it)."""
        with self._lock:
            if self._index is not None or self._building is not None:
                self._pending.append((seq, list(added), list(removed)))

    def search(
        self, phrases: Sequence[tuple[str, tuple[str, ...]]], k: int, stats: CorpusStats | None = None
    ) -> list[tuple[int, float]] | None:
        """FTS5's BM25 ranking for the FTS5 phrases given with their tokens, or ``None`` when the index is
        not ready (the caller asks FTS5). With ``stats`` (a federation's: every token of ``phrases`` in its
        frequencies) BM25 is computed with them instead of the index's own (``_with_own_counts``)."""
        with self._lock:
            if self._index is None:
                return None
            try:
                if not self._catch_up():
                    return None
                index = self._index
                used = None
                if stats is not None:
                    # Single terms are raised to this index's own counts by ``index.search`` itself; the
                    # tokens of a phrase whose count the query lacks are read by ``_phrase_hits``.
                    known = stats.phrase_frequencies
                    estimated = [words for phrase, words in phrases if len(words) > 1 and phrase not in known]
                    used = _with_own_counts(index, stats, {token for words in estimated for token in words})
                query: list[str | Scored] = []
                for phrase, words in phrases:
                    if len(words) == 1:
                        query.append(words[0])
                    elif words:
                        scored = self._phrase_scores(phrase)
                        if used is not None:
                            counted = used.phrase_frequencies.get(phrase)
                            hits = len(scored[0])
                            if counted is None:
                                estimate = _phrase_hits(index, words, hits, used)
                            else:
                                estimate = max(float(counted), float(hits))
                            scored = index.rescore(scored, used, estimate)
                        query.append(scored)
                return index.search(query, k, used)
            except Exception:
                _log.exception("in-memory keyword index failed; FTS5 answers until it is rebuilt")
                self._index = None
                self._pending.clear()
                return None

    def close(self) -> None:
        self._closed.set()
        thread = self._building
        if thread is not None:
            thread.join()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._index = None

    # -- building --------------------------------------------------------------------------------------

    def _start_build(self) -> None:
        if self._building is not None or self._closed.is_set():
            return
        self._pending.clear()
        self._building = threading.Thread(target=self._build, name="ragfed-keyword-build", daemon=True)
        self._building.start()

    def _build(self) -> None:
        try:
            conn = self._connect()
            try:
                conn.execute("BEGIN")  # one snapshot: commit_seq and the postings agree
                seq = int(conn.execute("SELECT value FROM meta WHERE key = 'commit_seq'").fetchone()[0])
                chunk_ids = np.fromiter((row[0] for row in conn.execute("SELECT rowid FROM main.chunk_fts")), np.int64)
                index = KeywordIndex()
                lengths, postings = _read_postings(conn, "mirror_chunk_terms", chunk_ids, self._closed)
                conn.execute("COMMIT")
            finally:
                conn.close()
            if self._closed.is_set():
                return
            index.add(chunk_ids, lengths, postings)
            with self._lock:
                self._index, self._seq = index, seq
                self._pending = [entry for entry in self._pending if entry[0] > seq]
            _log.info("in-memory keyword index built: %d chunks, %d terms", index.rows, len(postings))
        except Exception:
            _log.exception("building the in-memory keyword index failed; FTS5 answers keyword queries")
        finally:
            with self._lock:
                self._building = None

    def _catch_up(self) -> bool:
        """Apply the commits since the build; False when a rebuild was started instead."""
        pending = [entry for entry in self._pending if entry[0] > self._seq]
        self._pending.clear()
        if not pending or self._index is None:
            return True
        added = sorted({cid for _, ids, _ in pending for cid in ids})
        removed = {cid for _, _, ids in pending for cid in ids}
        if len(added) > max(_MIN_CATCH_UP, _REBUILD_SHARE * self._index.rows):
            self._index = None
            self._start_build()
            return False
        self._index.remove(sorted(removed | set(added)))
        conn = self._reader()
        for start in range(0, len(added), _BATCH):
            batch = added[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            conn.execute(
                "INSERT INTO temp.mirror_scratch(rowid, text, section, title)"
                f" SELECT rowid, text, section, title FROM main.chunk_fts WHERE rowid IN ({marks})",
                batch,
            )
            try:
                ids = np.fromiter((row[0] for row in conn.execute("SELECT rowid FROM temp.mirror_scratch")), np.int64)
                lengths, postings = _read_postings(conn, "mirror_scratch_terms", ids, None)
            finally:
                conn.execute("DELETE FROM temp.mirror_scratch")
            self._index.add(ids, lengths, postings)
        self._seq = max(seq for seq, _, _ in pending)
        return True

    def _phrase_scores(self, phrase: str) -> Scored:
        """A phrase of several tokens, scored by FTS5 alone: BM25 sums over phrases, and a phrase's idf
        depends only on the rows it matches, so its score on its own is its part of any query's score."""
        rows = self._reader().execute(_PHRASE_SQL, (phrase,)).fetchall()
        ids = np.fromiter((row[0] for row in rows), np.int64, count=len(rows))
        return ids, -np.fromiter((row[1] for row in rows), np.float64, count=len(rows))

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.executescript(_SCRATCH_SCHEMA)
        return conn


def _with_own_counts(index: KeywordIndex, stats: CorpusStats, tokens: set[str]) -> CorpusStats:
    """``stats`` with ``N`` and the counts of ``tokens`` (those of phrases of several tokens that
    ``_phrase_hits`` estimates) raised to at least this store's own: a federation's count of a term includes
    this site's, so it is never lower unless a floor or noise lowered it (docs/term-statistics.md). Single
    terms are raised where they are scored (``KeywordIndex.search``), which holds their postings anyway."""
    if tokens:
        frequencies: Mapping[str, float] = {
            **stats.frequencies,
            **{token: max(float(stats.frequencies[token]), index.frequency(token)) for token in tokens},
        }
    else:
        frequencies = stats.frequencies
    rows = max(stats.rows, index.rows)
    tokens_total = stats.tokens if stats.rows >= index.rows else index.total_tokens
    return CorpusStats(rows, tokens_total, frequencies, stats.phrase_frequencies)


def _phrase_hits(index: KeywordIndex, words: Sequence[str], local_hits: int, stats: CorpusStats) -> float:
    """How many chunks of the federation a phrase of several tokens occurs in, estimated, when the query
    did not bring the federation's count (published counts are of single terms: a phrase's count needs
    token positions, so the gateway asks the sites per query, docs/term-statistics.md). It is taken to hold the
    same share of its rarest token's chunks everywhere as it does here, which is exact when the phrase
    occurs wherever that token does (the usual case for codes such as ``F-217``); never fewer than here,
    never more than the chunks holding any of its tokens."""
    rarest = min(words, key=lambda word: stats.frequencies[word])
    here = index.frequency(rarest)
    if local_hits == 0 or here == 0:
        return float(local_hits)
    estimate = local_hits * float(stats.frequencies[rarest]) / here
    return max(min(estimate, min(float(stats.frequencies[word]) for word in words)), float(local_hits))


def _read_postings(
    conn: sqlite3.Connection, vocab: str, chunk_ids: NDArray[np.int64], stop: threading.Event | None
) -> tuple[NDArray[np.float64], dict[str, Postings]]:
    """Every term's postings from an FTS5 ``instance`` vocabulary table, and each chunk's length in
    tokens (aligned with ``chunk_ids``, which must hold every chunk of the table)."""
    ordered = np.sort(chunk_ids)
    lengths = np.zeros(len(ordered), np.float64)
    postings: dict[str, Postings] = {}
    for count, (term, keys_text) in enumerate(conn.execute(_POSTINGS_SQL.format(vocab))):
        if stop is not None and count % 1000 == 0 and stop.is_set():
            break
        keys = np.array(keys_text.split(), dtype=np.int64)
        ids, freqs = _weighted(keys)
        postings[str(term)] = (ids, freqs)
        np.add.at(lengths, np.searchsorted(ordered, keys >> 2), 1.0)
    return lengths[np.searchsorted(ordered, chunk_ids)], postings


def _weighted(keys: NDArray[np.int64]) -> Postings:
    """``chunk * 4 + column`` keys, one per occurrence, as (chunks, column-weighted frequency)."""
    if not keys.size:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    chunks, inverse = np.unique(keys >> 2, return_inverse=True)
    return chunks.astype(np.int64), np.bincount(inverse, weights=_WEIGHTS[keys & 3]).astype(np.float64)
