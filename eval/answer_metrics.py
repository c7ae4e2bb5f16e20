"""Answer metrics beyond token F1: expected strings, citations, support, invented values, refusals.

Every function reads the answer as the user sees it; citation tags are stripped before the text is
scored. Values and codes are compared with the same analysis the answer composer uses
(:mod:`rag_fed.answers.text`), so "appears in a cited passage" means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eval._text import strip_citations
from rag_fed.answers.facts import fact_values, facts
from rag_fed.answers.support import check_sentence
from rag_fed.answers.text import normalise, split_units

__all__ = [
    "RefusalCounts",
    "citation_recall",
    "contains_all",
    "invented_values",
    "supported_share",
]


def contains_all(answer: str, expected: Sequence[str]) -> float:
    """1.0 when every expected string occurs in the answer (normalised: case, dashes, spacing), else
    0.0; ``nan``-free: an empty ``expected`` scores 0.0 (nothing to check)."""
    if not expected:
        return 0.0
    text = normalise(strip_citations(answer))
    return float(all(normalise(item) in text for item in expected))


def citation_recall(cited_doc_ids: Sequence[str], gold_doc_ids: Iterable[str]) -> float:
    """Share of the gold documents the answer cites (0.0 without gold documents)."""
    gold = set(gold_doc_ids)
    return len(gold & set(cited_doc_ids)) / len(gold) if gold else 0.0


def invented_values(answer: str, cited_texts: Sequence[str]) -> list[str]:
    """Numbers, codes and part numbers of the answer that no cited passage contains."""
    known = set().union(*(fact_values(text) for text in cited_texts)) if cited_texts else set()
    return sorted({str(fact) for fact in facts(strip_citations(answer)) if fact.value not in known})


def supported_share(answer: str, cited_texts: Sequence[str], min_overlap: float = 0.75) -> float:
    """Share of the answer's sentences that the cited passages support (the composer's own check,
    applied from outside to the text as shown); 0.0 for an answer without sentences."""
    sentences = [unit.text for unit in split_units(strip_citations(answer)) if len(unit.text.split()) >= 3]
    if not sentences:
        return 0.0
    verdicts = [check_sentence(sentence, cited_texts, min_overlap=min_overlap) for sentence in sentences]
    return sum(verdict.supported for verdict in verdicts) / len(verdicts)


@dataclass(slots=True)
class RefusalCounts:
    """Refusals over answerable and unanswerable questions; precision and recall of declining."""

    declined_unanswerable: int = 0
    answered_unanswerable: int = 0
    declined_answerable: int = 0
    answered_answerable: int = 0

    def add(self, answerable: bool, refused: bool) -> None:
        if answerable:
            self.declined_answerable += refused
            self.answered_answerable += not refused
        else:
            self.declined_unanswerable += refused
            self.answered_unanswerable += not refused

    @property
    def precision(self) -> float:
        """Of the questions declined, the share that really were unanswerable."""
        declined = self.declined_unanswerable + self.declined_answerable
        return self.declined_unanswerable / declined if declined else 0.0

    @property
    def recall(self) -> float:
        """Of the unanswerable questions, the share declined."""
        total = self.declined_unanswerable + self.answered_unanswerable
        return self.declined_unanswerable / total if total else 0.0

    @property
    def answered_rate(self) -> float:
        """Of the answerable questions, the share answered."""
        total = self.declined_answerable + self.answered_answerable
        return self.answered_answerable / total if total else 0.0
