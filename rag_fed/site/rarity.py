"""How rare each of a question's terms is in the collection searched: the weights an evidence span's
coverage of the question is counted in (``rag_fed.answers.evidence``, docs/answers.md).

The counts are those BM25 scores with: the federation's, sent with the query (``QueryTermStats``), when
they count this site's current keyword index and hold every token asked about; else the site's own.
With the federation's, every site weighs a term as one central index over all their chunks would, so
a span scores the same at whichever site holds it, and the sites' evidence ranks on one scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from indexes.sqlite_docstore import SQLiteDocStore
from rag_fed.answers.evidence import CollectionRarity
from rag_fed.answers.text import question_words
from rag_fed.protocol import QueryTermStats

__all__ = ["rarity", "term_rarity"]


def rarity(chunks: int, holding: int) -> float:
    """The weight of a term that ``holding`` of ``chunks`` chunks hold: highest for one no chunk holds
    (no span can cover it), near zero for one every chunk holds."""
    return math.log((chunks + 1) / (holding + 0.5))


def term_rarity(
    docstore: SQLiteDocStore, question: str, term_stats: QueryTermStats | None, version: str
) -> CollectionRarity:
    """Each content term of ``question`` (``question_terms``) with its :func:`rarity`; ``version`` is the
    version of the site's keyword index now (``Site.term_stats_version``)."""
    words = question_words(question)
    flat = [word for term_words in words.values() for word in term_words]
    tokens = dict(zip(flat, docstore.word_tokens(flat), strict=True)) if flat else {}
    own = docstore.term_counts()
    chunks: int = own.chunks
    frequencies: Mapping[str, int] = own.frequencies
    if term_stats is not None and term_stats.site_version == version:
        wanted = {token for word_tokens in tokens.values() for token in word_tokens}
        if wanted <= term_stats.frequencies.keys():
            chunks, frequencies = term_stats.chunks, term_stats.frequencies
    # A word of several tokens is held at most as often as its rarest; a term, as often as its commonest word.
    weights = {
        term: rarity(chunks, max(min((frequencies.get(t, 0) for t in tokens[word]), default=0) for word in term_words))
        for term, term_words in words.items()
    }
    return CollectionRarity(weights, chunks)
