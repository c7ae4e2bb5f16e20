"""Follow-up questions made standalone before retrieval ("and the bearing?" after a question on the
GX-400 gearbox's oil change becomes one question that names the gearbox).

A rule, not a model: a 135M model rewrites unreliably and costs a second. A follow-up is elliptical
when it is short or leans on the previous turn (starts with "and", "what about", "how about"; or
refers back with "it", "that", "those" ...) and names no code or part number of its own; it is then
joined to the previous standalone question, so retrieval and evidence selection see both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag_fed.answers.evidence import question_codes
from rag_fed.answers.text import content_terms

__all__ = ["standalone_question"]

_LEANS_BACK = re.compile(r"^\s*(?:and|also|what about|how about|same for|what of|or)\b", re.IGNORECASE)
_REFERS_BACK = re.compile(r"\b(?:it|its|that|this|those|these|they|them|there|same)\b", re.IGNORECASE)
_SHORT_WORDS = 6


def standalone_question(question: str, earlier_questions: Sequence[str]) -> str:
    """``question`` as one that can be understood alone, given the user's ``earlier_questions``
    (oldest first, each as it was asked)."""
    question = question.strip()
    if not earlier_questions:
        return question
    previous = earlier_questions[-1].strip()
    if len(earlier_questions) > 1:
        previous = standalone_question(previous, earlier_questions[:-1])
    elliptical = (
        bool(_LEANS_BACK.match(question))
        or len(question.split()) < _SHORT_WORDS
        or (bool(_REFERS_BACK.search(question)) and len(content_terms(question)) <= 4)
    )
    if not elliptical or (question_codes(question) and not _LEANS_BACK.match(question)):
        return question
    follow_up = _LEANS_BACK.sub("", question).strip(" ,?") or question
    first_word = follow_up.split(maxsplit=1)[0]
    if first_word[:1].isupper() and first_word[1:].islower():  # "How", not "CV-3" or "SP-150"
        follow_up = follow_up[0].lower() + follow_up[1:]
    return f"{previous.rstrip(' ?')}; and {follow_up}?"
