"""The support check: is a sentence a model wrote backed by the evidence it was given?

A sentence is supported when every number, unit and code in it appears in the evidence (a value given
in another unit than the evidence gives it is not supported), when most of its content terms
(``min_overlap``) occur in the evidence, and when at least ``min_bigram_overlap`` of its pairs of
adjacent content terms occur adjacent in the evidence too: words of the evidence recombined into a
new claim ("no other loads on the lift") fail that test, a copy or a close paraphrase passes it.
Sentences that carry fewer than two content terms say nothing checkable and are not kept either, nor
are fragments (a sentence stopping on "from", "with" or "the") and sentences that only repeat the
heading of an item ("Add the app button to your home screen" over the section of that title): the
evidence shown below them says as much.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pydantic import BaseModel, Field

from rag_fed.answers.facts import fact_values, facts, quantities
from rag_fed.answers.text import content_terms, unfinished

__all__ = ["SentenceSupport", "check_sentence"]


class SentenceSupport(BaseModel):
    """The verdict on one written sentence. ``evidence``: indices (0-based) of the items that back it."""

    sentence: str
    supported: bool
    overlap: float = Field(ge=0.0, le=1.0)
    unsupported: list[str] = Field(default_factory=list, description="Values or codes no evidence holds.")
    evidence: list[int] = Field(default_factory=list)


def check_sentence(
    sentence: str,
    evidence_texts: Sequence[str],
    cited: Sequence[int] = (),
    *,
    min_overlap: float = 0.75,
    min_bigram_overlap: float = 0.5,
    headings: Sequence[str] = (),
) -> SentenceSupport:
    """Check ``sentence`` against the items it cites (``cited``, indices into ``evidence_texts``), or
    against all items when it cites none; ``headings``: the items' headings (title and section), which a
    sentence that says nothing more than one of them only repeats."""
    pool = [index for index in cited if 0 <= index < len(evidence_texts)] or list(range(len(evidence_texts)))
    joined = " ".join(evidence_texts[index] for index in pool)
    values = fact_values(joined)
    given_in = quantities(joined)
    unsupported = []
    for fact in sorted(facts(sentence), key=str):
        if fact.value not in values or (
            fact.unit is not None and fact.value in given_in and fact.unit not in given_in[fact.value]
        ):
            unsupported.append(str(fact))
    sequence = content_terms(sentence)
    terms = set(sequence)
    evidence_terms = set(content_terms(joined))
    overlap = len(terms & evidence_terms) / len(terms) if terms else 0.0
    pairs = set(itertools.pairwise(sequence))
    evidence_pairs = {pair for index in pool for pair in _pairs(evidence_texts[index])}
    pair_share = len(pairs & evidence_pairs) / len(pairs) if pairs else 1.0
    backing = [index for index in pool if set(content_terms(evidence_texts[index])) & terms]
    says_something = len(terms) >= 2 and not unfinished(sentence) and not _only_heading(terms, headings)
    supported = not unsupported and says_something and overlap >= min_overlap and pair_share >= min_bigram_overlap
    return SentenceSupport(
        sentence=sentence,
        supported=supported,
        overlap=round(overlap, 4),
        unsupported=unsupported,
        evidence=backing,
    )


def _pairs(text: str) -> set[tuple[str, str]]:
    sequence = content_terms(text)
    return set(itertools.pairwise(sequence))


def _only_heading(terms: set[str], headings: Sequence[str]) -> bool:
    """Whether every content term of a sentence is in one heading (it names a source, answers nothing)."""
    return any(terms <= set(content_terms(heading)) for heading in headings if heading)
