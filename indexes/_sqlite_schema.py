"""Schema of the site docstore and the FTS5 query builder.

Tables: ``meta`` (key/value: schema version, ``commit_seq``, the manifest), ``documents``, ``chunks``
(one row per chunk, its vector as a little-endian float32 blob) and ``chunk_fts`` (FTS5 over chunk text,
section and document title; its rowid is the chunk id). ``chunks.chunk_id`` is ``AUTOINCREMENT`` so an
id is never handed out twice, even after its chunk was deleted: a stale id held by a cache or a peer
can never point at a different passage.
"""

from __future__ import annotations

import re

__all__ = ["BM25_WEIGHTS", "MAX_QUERY_TERMS", "SCHEMA", "SCHEMA_VERSION", "STOP_WORDS", "fts_match_expression"]

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents(source);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL,
    page INTEGER,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(
    text, section, title,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('commit_seq', '0');
"""

# Column weights for bm25(chunk_fts, text, section, title): the passage itself counts most; a section
# heading is a strong hint in manuals; the title is shared by every chunk of a document, so it mostly
# separates documents rather than passages.
BM25_WEIGHTS = (1.0, 0.75, 0.5)

MAX_QUERY_TERMS = 64

# English function words dropped from keyword queries: the union of Lucene's English stop set and the
# question words of chat queries ("what", "how", "do", "my", ...). OR-ing them makes FTS5 walk and score
# posting lists that cover most of the corpus while their BM25 weight is close to zero; dropping them
# kept or raised nDCG@10 on Cranfield and S10 (docs/benchmarks.md). "no" and "not" go too: bag-of-words
# BM25 cannot express a negation anyway. Particles that carry meaning in maintenance text and are rare
# enough to rank ("off", "up", "down", "out", "over", "under", "without") are kept.
_STOP_WORD_TEXT = """
    a an the this that these those some any each every such same other its it their they them his her
    him he she we us our you your my me i myself itself themselves what which who whom whose
    am is are was were be been being have has had having do does did doing can could will would shall
    should may might must no not of in on to for with at by from into onto about as than then so and or but if
    because while until through during between upon there here where when why how also just very too
    more most only both all few many much again further once s t d ll m re ve
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())

_TOKEN = re.compile(r"[^\W_]+")  # what unicode61 keeps: letters and digits


def fts_match_expression(query: str) -> str | None:
    """Turn free user text into a safe FTS5 query, or ``None`` when nothing in it is searchable.

    Each whitespace-separated word becomes one quoted FTS5 string (inner quotes doubled), so FTS5 syntax
    in user text (``AND``, ``NEAR``, ``*``, ``-``, ``"``, ``:``) is plain text. FTS5 tokenises inside the
    quotes, so a part number such as ``C3-"x`` becomes the phrase "c3 x" and still matches where the
    text says ``C3-x``. Words are OR-ed and ranked by bm25, as keyword retrieval for RAG wants recall.

    A word all of whose tokens are :data:`STOP_WORDS` ("the", "what's") is dropped, unless the query
    has nothing else (a search for "to be or not to be" still searches for those words). A word with any other token
    is kept whole, so part numbers and codes such as ``A-1`` or ``I/O`` stay intact.
    """
    content: list[str] = []
    stop: list[str] = []
    seen: set[str] = set()
    for word in query.split():
        tokens = _TOKEN.findall(word.casefold())
        if not tokens:
            continue
        phrase = '"' + word.replace('"', '""') + '"'
        key = phrase.casefold()
        if key in seen:
            continue
        seen.add(key)
        (stop if all(token in STOP_WORDS for token in tokens) else content).append(phrase)
    phrases = (content or stop)[:MAX_QUERY_TERMS]
    return " OR ".join(phrases) if phrases else None
