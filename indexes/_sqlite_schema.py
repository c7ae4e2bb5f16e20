"""Schema of the site docstore and the FTS5 query builder.

Tables: ``meta`` (key/value: schema version, ``commit_seq``, the manifest), ``documents``, ``chunks``
(one row per chunk, its vector as a little-endian float32 blob) and ``chunk_fts`` (FTS5 over chunk text,
section and document title; its rowid is the chunk id). ``chunks.chunk_id`` is ``AUTOINCREMENT`` so an
id is never handed out twice, even after its chunk was deleted: a stale id held by a cache or a peer
can never point at a different passage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "BM25_WEIGHTS",
    "CHUNK_COLUMN_UPGRADES",
    "MAX_QUERY_TERMS",
    "PRUNE_KEEP",
    "PRUNE_SHARE",
    "QUERY_WORDS_SCHEMA",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STOP_WORDS",
    "TEMP_SCHEMA",
    "TOKENIZER",
    "fts_match_expression",
    "prune_phrases",
    "query_phrases",
]

SCHEMA_VERSION = 1

TOKENIZER = "porter unicode61 remove_diacritics 2"

SCHEMA = f"""
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
    vector BLOB NOT NULL,
    line_start INTEGER,
    line_end INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_fts USING fts5(
    text, section, title,
    tokenize = '{TOKENIZER}'
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('commit_seq', '0');
"""

# Columns of ``chunks`` added after the first release, as (name, declaration): opening a store for
# writing adds those it lacks (all nullable, so old rows read as "not known"). ``line_start``/``line_end``
# are the 1-based lines of the source file a chunk came from (plain-text sources).
CHUNK_COLUMN_UPGRADES = (("line_start", "INTEGER"), ("line_end", "INTEGER"))

# Per connection, never stored: a scratch FTS5 table that tokenises query words exactly as chunk_fts does
# (read back through its ``instance`` vocabulary), and the document frequency of each term of chunk_fts.
QUERY_WORDS_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words USING fts5(word, tokenize = '{TOKENIZER}');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_word_terms USING fts5vocab(temp, query_words, instance);
"""
TEMP_SCHEMA = (
    QUERY_WORDS_SCHEMA + "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_terms USING fts5vocab(main, chunk_fts, row);\n"
)

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

    The phrases of :func:`query_phrases`, OR-ed.
    """
    phrases = query_phrases(query)
    return " OR ".join(phrases) if phrases else None


def query_phrases(query: str) -> list[str]:
    """The FTS5 strings a keyword query searches for, in query order (empty when nothing is searchable).

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
    return (content or stop)[:MAX_QUERY_TERMS]


# Query-term pruning (see prune_phrases). A term in more than PRUNE_SHARE of the chunks is dropped from
# the query, except that the PRUNE_KEEP rarest terms always stay. Its BM25 weight is low (idf = ln 3 at
# 25%, against ln 1000 for a term in 0.1% of the chunks) while its posting list, which FTS5 scores row
# by row, makes much of the query's cost. A share, not a count, so that a store ranks alike at every
# size. Lower shares are faster but lose quality: at 10% hybrid nDCG@10 on Cranfield fell 2 points
# (below dense); at 25% it moved by less than 0.2 (the issue 6 benchmark notes).
PRUNE_SHARE = 0.25
PRUNE_KEEP = 3


def prune_phrases(
    phrases: Sequence[str],
    terms: Mapping[str, str | None],
    frequencies: Mapping[str, int],
    chunk_count: int,
    *,
    max_share: float = PRUNE_SHARE,
    keep: int = PRUNE_KEEP,
) -> list[str]:
    """The phrases worth searching for: common terms dropped, rare terms, codes and unknowns kept.

    ``terms`` maps a phrase to its one index term (as the tokenizer stems it), or to ``None`` when the
    phrase is a code: several tokens (``"C3-x"``), or a token with a digit (``"6310"``). Codes are never
    dropped, and neither is a phrase whose term has no known document frequency in ``frequencies``.
    Among the others the ``keep`` rarest always stay; the rest stay if they occur in at most
    ``max_share`` of the ``chunk_count`` chunks. Order is kept.
    """
    prunable = [p for p in phrases if terms.get(p) is not None and terms[p] in frequencies]
    prunable.sort(key=lambda p: frequencies[terms[p] or ""])
    limit = max_share * chunk_count
    dropped = {p for rank, p in enumerate(prunable) if rank >= keep and frequencies[terms[p] or ""] > limit}
    return [p for p in phrases if p not in dropped]
