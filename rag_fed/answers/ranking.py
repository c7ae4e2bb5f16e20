"""Evidence from many sites as one ranking, and the choice of what an answer shows (or that it refuses).

Scores compare across sites: every site scores with the query's embedder version and the same
formula. Ties break by a stable key (site, document, chunk), so two runs and two topologies give the
same list. Near-identical spans (the same text from two sites, or a section repeated in two
documents) are shown once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rag_fed.answers.evidence import answerability, question_codes
from rag_fed.answers.facts import code_forms, fact_values
from rag_fed.answers.quantity import asked_kinds, asks_more, gives_kind
from rag_fed.answers.text import content_terms, normalise
from rag_fed.config import AnswerSettings
from rag_fed.types import CITATION_TAG, Citation, Evidence, SiteAnswer

__all__ = [
    "RefusalReason",
    "Selection",
    "answering",
    "asked_codes",
    "cited_source",
    "evidence_for_answer",
    "rank_evidence",
    "select_for_answer",
    "shown_text",
]

_DUPLICATE_JACCARD = 0.8


def rank_evidence(evidence: Sequence[Evidence]) -> list[Evidence]:
    """Best first, ties by (site, document, chunk); near duplicates of a better item dropped."""
    ordered = sorted(
        evidence, key=lambda e: (-e.score, e.citation.site_id, e.citation.doc_id, e.chunk_id, e.passage_rank)
    )
    kept: list[Evidence] = []
    kept_terms: list[set[str]] = []
    for item in ordered:
        terms = set(content_terms(item.text))
        if item.text and any(_jaccard(terms, other) >= _DUPLICATE_JACCARD for other in kept_terms):
            continue
        kept.append(item)
        kept_terms.append(terms)
    return kept


RefusalReason = Literal[
    "no evidence",
    "below min_support",
    "codes in no evidence",
    "asked codes in no passage",
    "no value of the kind asked",
]
"""Why :func:`select_for_answer` declines, in the order its rules apply."""


@dataclass(frozen=True, slots=True)
class Selection:
    """What an answer shows (``items``, best first), or why it refuses (``refusal``; then no items)."""

    items: list[Evidence] = field(default_factory=list)
    refusal: RefusalReason | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def select_for_answer(question: str, ranked: Sequence[Evidence], settings: AnswerSettings) -> Selection:
    """The items to show, or the rule that refuses (:data:`RefusalReason`, in this order): there is no
    evidence, the best item's :func:`~rag_fed.answers.evidence.answerability` is under
    ``settings.min_support``, none of the question's codes and part
    numbers is in any item, none of the codes it asks about (:func:`asked_codes`) is in any passage the
    evidence was cut from, or it asks for a kind of value no item answering to ``min_support`` gives
    (:func:`answering`). Shown: the best, and the next items that score at least ``secondary_ratio`` of
    it and add to it (:func:`_adds_to`), up to ``max_items``."""
    if not ranked:
        return Selection(refusal="no evidence")
    if answerability(ranked[0]) < settings.min_support:
        return Selection(refusal="below min_support")
    codes = question_codes(question)
    if codes and not any(code not in item.missing for item in ranked for code in codes):
        return Selection(refusal="codes in no evidence")  # the question is about codes no document mentions
    asked = asked_codes(codes, ranked)
    if asked and all(code in item.absent for item in ranked for code in asked):
        # "CV-3 shows C-118": no passage found names C-118, only the CV-3 it happens on
        return Selection(refusal="asked codes in no passage")
    candidates = answering(question, ranked)
    ranked = [item for item in candidates if answerability(item) >= settings.min_support]
    if not ranked:
        return Selection(refusal="no value of the kind asked")
    floor = ranked[0].score * settings.secondary_ratio
    selected = ranked[:1]
    for item in ranked[1:]:
        if item.score < floor or len(selected) == settings.max_items:
            break
        if _adds_to(selected, item, codes):
            selected.append(item)
    if asks_more(question):  # a compound question's value is shown with the answer to its other part
        value = _giving(question, candidates)[0]
        if value not in selected:
            selected = [*selected[: settings.max_items - 1], value]
    return Selection(selected)


def _adds_to(shown: Sequence[Evidence], item: Evidence, codes: Sequence[str]) -> bool:
    """Whether ``item`` adds to an answer showing ``shown``: it holds one of the question's codes for a
    site whose items shown do not (a code may mean one thing at one plant and another at the next), or it
    is one more record of the log the best item is from (a history question is answered by every matching
    record). An item that only shares the question's words is another place to look, not more answer: it
    stays in the answer's other results."""
    held = {(other.citation.site_id, code) for other in shown for code in codes if code not in other.missing}
    if any((item.citation.site_id, code) not in held for code in codes if code not in item.missing):
        return True
    log = _log_of(item)
    return log is not None and log == _log_of(shown[0])


def _log_of(item: Evidence) -> tuple[str, str] | None:
    """The site and log file a record (a work order: ``path/key``, without sections, pages or lines) is
    from; None for a document."""
    citation = item.citation
    if not _is_record(citation) or "/" not in citation.doc_id:
        return None
    return citation.site_id, citation.doc_id.rsplit("/", 1)[0]


def _is_record(citation: Citation) -> bool:
    """A record (a work order of a log): a document cited without a section, a page or lines."""
    return not citation.section and citation.page is None and citation.lines is None


def answering(question: str, ranked: Sequence[Evidence]) -> list[Evidence]:
    """The items of ``ranked`` that can answer ``question``: all of them, unless it asks for a kind of
    value (``rag_fed.answers.quantity``: "what torque ..."), which only items giving a value of that kind
    answer, however many words the others share with it; and when it also names equipment by code,
    only items naming that equipment (a GX-400 torque does not answer an SC-75 question). A compound
    question (:func:`~rag_fed.answers.quantity.asks_more`) is answered by all of them when one gives
    the value, by none when none does."""
    if not asked_kinds(question):
        return list(ranked)
    giving = _giving(question, ranked)
    if giving and asks_more(question):
        return list(ranked)
    return giving


def _giving(question: str, ranked: Sequence[Evidence]) -> list[Evidence]:
    """The items giving a value of the kind ``question`` asks for, naming its equipment codes if any."""
    kinds, codes = asked_kinds(question), question_codes(question)
    return [
        item
        for item in ranked
        if gives_kind(item.text, kinds) and (not codes or any(code not in item.missing for code in codes))
    ]


def shown_text(item: Evidence) -> str:
    """``item``'s text as an answer shows it. A record (a work order: a document without sections,
    pages or lines) is led by its title, where its id, asset and date are ("Work order MN-A-00957 ·
    asset MB119 · 2007-03-02: MB119 REPLACE WATER PUMP"): a history question is answered by when."""
    citation = item.citation
    if _is_record(citation) and citation.title and normalise(citation.title) not in normalise(item.text):
        return f"{citation.title}: {item.text}"
    return item.text


def cited_source(item: Evidence) -> str:
    """What ``item`` cites as a reader can check it: its document's title and section, then its text
    (a record's id and date, shown by :func:`shown_text`, are in its title)."""
    return f"{item.citation.heading}\n{item.text}" if item.citation.heading else item.text


def asked_codes(codes: Sequence[str], ranked: Sequence[Evidence]) -> list[str]:
    """The codes a question asks about: those that name no equipment or document a passage heading
    names (in "CV-3 is showing fault C-118", C-118 is asked about; CV-3 is where)."""
    headings = " ".join({item.citation.heading for item in ranked})
    named = code_forms(headings) if headings else set()
    return [code for code in codes if code not in named]


def _jaccard(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def mentions(text: str, value: str) -> bool:
    """Whether ``value`` (a code or number) occurs in ``text`` as the support check reads it."""
    return value in fact_values(text) or f" {value} " in f" {normalise(text)} "


def evidence_for_answer(evidence: Sequence[Evidence], answers: Sequence[SiteAnswer]) -> list[Evidence]:
    """The evidence an answer can quote: items with text as they are. A site that sent its items without
    text ('answer' egress) is quoted by its phrased answer, under its best item's citation and score;
    without one, its best item still shows, saying that the site keeps the passage private, so that a
    private site's match is never lost (the engineer can ask that site's admin for the document)."""
    phrased = {answer.site_id: answer.answer for answer in answers if answer.answer.strip()}
    usable: list[Evidence] = []
    stood_in: set[str] = set()
    for item in sorted(evidence, key=lambda e: -e.score):
        site_id = item.citation.site_id
        if item.text.strip():
            usable.append(item)
        elif site_id not in stood_in:
            stood_in.add(site_id)
            if site_id in phrased:
                text = " ".join(CITATION_TAG.sub("", phrased[site_id]).split())
            else:
                text = f"(Site {site_id} keeps the text of this passage private: {item.citation.heading}.)"
            usable.append(item.model_copy(update={"text": text[:4000]}))
    return usable


def unmatched_codes(question: str, shown: Sequence[Evidence]) -> list[str]:
    """The question's codes that none of the shown items holds (the answer names them)."""
    codes = question_codes(question)
    return [code for code in codes if all(code in item.missing for item in shown)]
