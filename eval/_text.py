"""Text normalisation shared by answer metrics and topic vectors (SQuAD-style answer normalisation)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOPWORDS", "answer_tokens", "normalize_answer"]

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
