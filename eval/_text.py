"""Text normalisation shared by answer metrics and topic vectors (SQuAD-style answer normalisation),
and reading the ``[site:doc#section]`` citation tags out of an answer."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOPWORDS", "answer_tokens", "cited_doc_ids", "cited_sources", "normalize_answer", "strip_citations"]

# fmt: off
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
        "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with",
        "which", "what", "when", "how", "can", "your", "you", "not", "but", "all", "any", "been",
        "into", "than", "then", "there", "these", "they", "their",
    }
)
# fmt: on
_ARTICLES = re.compile(r"\b(a|an|the)\b")
# The tag answers cite (rag_fed.types.Citation.label): a node id, a colon, the document id, an optional anchor.
_CITATION = re.compile(r"\[([a-z0-9][a-z0-9-]{0,62}):([^\[\]\s#]+)(?:#[^\[\]]*)?\]")
_SOURCES_LINE = re.compile(r"^\s*sources:.*$", re.IGNORECASE | re.MULTILINE)


def normalize_answer(text: str) -> str:
    """Lower-case, delete punctuation (any Unicode ``P*`` character), drop articles, collapse whitespace.

    This is the normalisation of the SQuAD evaluation script, with punctuation widened to Unicode.
    """
    lowered = text.lower()
    no_punctuation = "".join(char for char in lowered if not unicodedata.category(char).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", no_punctuation).split())


def answer_tokens(text: str) -> list[str]:
    """Whitespace tokens of :func:`normalize_answer`."""
    return normalize_answer(text).split()


def cited_doc_ids(answer: str) -> list[str]:
    """Document ids of the ``[site:doc#section]`` tags in ``answer``, once each, in order of first citation."""
    return list(dict.fromkeys(match.group(2) for match in _CITATION.finditer(answer)))


def cited_sources(answer: str) -> list[tuple[str, str]]:
    """``(site, document)`` of the citation tags in ``answer``, once each, in order of first citation."""
    return list(dict.fromkeys((match.group(1), match.group(2)) for match in _CITATION.finditer(answer)))


def strip_citations(answer: str) -> str:
    """``answer`` without citation tags and ``Sources:`` lines: the words a reader is meant to read.

    Scoring an answer's text (exact match, token F1) on its tags would count ids such as
    ``central:section_145`` as answer words.
    """
    return " ".join(_CITATION.sub(" ", _SOURCES_LINE.sub(" ", answer)).split())
