"""Schema of the site docstore and the FTS5 query builder.

Tables: ``meta`` (key/value: schema version, ``commit_seq``, the manifest), ``documents``, ``chunks``
(one row per chunk, its vector as a little-endian float32 blob) and ``chunk_fts`` (FTS5 over chunk text,
section and document title; its rowid is the chunk id). ``chunks.chunk_id`` is ``AUTOINCREMENT`` so an
id is never handed out twice, even after its chunk was deleted: a stale id held by a cache or a peer
can never point at a different passage.
"""

from __future__ import annotations

import re

__all__ = ["BM25_WEIGHTS", "MAX_QUERY_TERMS", "SCHEMA", "SCHEMA_VERSION", "fts_match_expression"]

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
_HAS_WORD_CHAR = re.compile(r"[^\W_]")


def fts_match_expression(query: str) -> str | None:
    """Turn free user text into a safe FTS5 query, or ``None`` when nothing in it is searchable.

    Each whitespace-separated word becomes one quoted FTS5 string (inner quotes doubled), so FTS5 syntax
    in user text (``AND``, ``NEAR``, ``*``, ``-``, ``"``, ``:``) is plain text. FTS5 tokenises inside the
    quotes, so a part number such as ``C3-"x`` becomes the phrase "c3 x" and still matches where the
    text says ``C3-x``. Words are OR-ed and ranked by bm25, as keyword retrieval for RAG wants recall.
    """
    phrases: list[str] = []
    for word in query.split():
        if not _HAS_WORD_CHAR.search(word):
            continue
        phrase = '"' + word.replace('"', '""') + '"'
        if phrase not in phrases:
            phrases.append(phrase)
        if len(phrases) == MAX_QUERY_TERMS:
            break
    return " OR ".join(phrases) if phrases else None
