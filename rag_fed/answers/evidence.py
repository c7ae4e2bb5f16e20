"""Evidence selection: the sentences and steps of a site's top passages that answer the question.

Every unit (sentence, step, table row) of the top passages is scored by its cosine with the question
(the embedder of the query's version) and by how many of the question's content terms, weighted by
rarity among the candidate units, it and its passage heading contain; a code or part number of the
question found in a unit lifts it. The best unit of each passage seeds a span, grown over its
neighbours while they stay relevant (steps of a procedure always stay together and in order) up to a
word budget. Each span is one :class:`~rag_fed.types.Evidence`, scored as a whole, its coverage by
the terms' rarity in the collection (``rag_fed.site.rarity``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from rag_fed.answers.facts import code_forms, facts
from rag_fed.answers.text import Unit, content_terms, question_terms, split_units
from rag_fed.config import EvidenceSettings
from rag_fed.types import Evidence, Passage

if TYPE_CHECKING:
    from rag_fed.embedders.base import Embedder

__all__ = ["CollectionRarity", "EvidenceSelector", "answerability", "question_codes", "support_score"]

# "Clear credentials: Erase credential contents ..." (a short label, a colon, its description)
_OPTION = re.compile(r"^[^\s:][^:.]{0,48}:\s+\S")
# "... for the following options: Storage type: Select ..." (an introduction run into its first option)
_INTRODUCES = re.compile(r":\s*$|:\s+[^\s:][^:.]{0,48}:\s+\S")


@dataclass(slots=True)
class _Row:
    """A unit with what it is scored by: its term coverage, whether it holds a code of the question,
    and its cosine with the question (its passage's until the unit itself is embedded)."""

    unit: Unit
    lexical: float
    has_code: bool
    similarity: float
    repeats_heading: bool = False
    measured: bool = False  # its own cosine, not its passage's


@dataclass(frozen=True)
class CollectionRarity:
    """Each of a question's terms (``question_terms``) weighted by its rarity among the ``chunks``
    chunks of a collection (``rag_fed.site.rarity``)."""

    weights: Mapping[str, float]
    chunks: int


def support_score(similarity: float, coverage: float, passage_similarity: float | None = None) -> float:
    """How well a span answers the question, 0..1, as evidence is ranked (``Evidence.score``): the mean
    of the best sentence's cosine, the coverage of the question's terms and the cosine of the whole
    passage the span is cut from (the span's own when the passage has none, as in keyword search).
    Whether the best span answers at all is :func:`answerability` (docs/answers.md)."""
    passage = similarity if passage_similarity is None else passage_similarity
    return min(1.0, (max(0.0, similarity) + max(0.0, coverage) + max(0.0, passage)) / 3.0)


def answerability(item: Evidence) -> float:
    """Whether ``item`` answers the question at all, 0..1, what ``answers.min_support`` is compared with:
    its best sentence's cosine and, counted twice, its coverage of the question's terms (weighted by
    their rarity in the collection). Chosen among nine combinations (bench/refusal_curve.py) as the one
    whose refusal threshold carries best from one collection to an unrelated one; the passage's cosine,
    which ranks the right section first, does not tell whether the section answers (docs/answers.md)."""
    return min(1.0, (max(0.0, item.similarity) + 2.0 * max(0.0, item.coverage)) / 3.0)


def question_codes(question: str) -> list[str]:
    """The codes and part numbers of ``question``, compact (no dashes or spaces): tokens with letters
    and digits or digits joined by a dash ("F-217", "6205-2RS", "SP-150"), and upper-case letters
    written apart from a number ("ALM 452"). Plain numbers and years are not codes."""
    return sorted(code_forms(question, whole_only=True))


class EvidenceSelector:
    """Cuts evidence from one site's passages. ``embedder`` must be the embedder of the passages'
    store (the query's version); without it units are scored by their terms alone."""

    def __init__(self, settings: EvidenceSettings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or EvidenceSettings()
        self._embedder = embedder

    def select(
        self,
        question: str,
        passages: Sequence[Passage],
        question_vector: NDArray[np.float32] | None = None,
        rarity: CollectionRarity | None = None,
    ) -> list[Evidence]:
        """One span per passage (of the top ``settings.passages`` with text), best first. Units are chosen
        by the question's terms weighted by their rarity among the candidate units (what tells them
        apart); a span's coverage, in its score and answerability, by ``rarity``: each term's weight by
        how rare it is in the collection (``rag_fed.site.rarity``), so the same span covers a question
        alike at any site. Without it, or when it counts fewer chunks than there are candidate units
        (a tiny collection, where a term every chunk holds weighs next to nothing), the units' weights
        again: rarity is read from the larger of the two samples.

        Units are first scored by their terms and their passage's cosine with the question; only the
        ``settings.embed_units`` best are embedded (a unit costs about 9 ms on one CPU thread), and
        their own cosine replaces the passage's.
        """
        candidates = [p for p in passages[: self.settings.passages] if p.text.strip()]
        units = [split_units(p.text) for p in candidates]
        flat = [unit.text for passage_units in units for unit in passage_units]
        if not flat:
            return []
        among_units = _term_weights(question, flat)
        weights = dict(rarity.weights) if rarity is not None and rarity.chunks >= len(flat) else among_units
        codes = question_codes(question)
        rows: list[list[_Row]] = []
        for passage, passage_units in zip(candidates, units, strict=True):
            heading_terms = set(content_terms(passage.citation.heading))
            prior = max(0.0, passage.dense_score or 0.0)
            # a code the heading names (the SP-150 of "SP-150 pump manual") says which equipment, not
            # what is asked: only the question's other codes mark a unit
            named = code_forms(passage.citation.heading)
            asked = [code for code in codes if code not in named]
            rows.append([_row(unit, heading_terms, among_units, asked, prior) for unit in passage_units])
        self._refine(question, rows, question_vector, codes)
        evidence = [
            self._span(passage, passage_rows, weights, codes)
            for passage, passage_rows in zip(candidates, rows, strict=True)
            if passage_rows
        ]
        evidence.sort(key=lambda item: (-item.score, item.passage_rank))
        return evidence

    def _refine(
        self,
        question: str,
        rows: list[list[_Row]],
        question_vector: NDArray[np.float32] | None,
        codes: list[str],
    ) -> None:
        """Embed the best units and give them their own cosine with the question."""
        if self._embedder is None:
            return
        flat = [row for passage_rows in rows for row in passage_rows]
        flat.sort(key=lambda row: -self._unit_score(row, codes))
        chosen = flat[: self.settings.embed_units]
        texts = [row.unit.text for row in chosen]
        if question_vector is None:
            vectors = self._embedder.embed([question, *texts])
            question_vector, unit_vectors = vectors[0], vectors[1:]
        else:
            unit_vectors = self._embedder.embed(texts)
        similarities = np.clip(unit_vectors @ np.asarray(question_vector, dtype=np.float32), -1.0, 1.0)
        for row, similarity in zip(chosen, similarities, strict=True):
            row.similarity = float(similarity)
            row.measured = True
        # A unit left unembedded ranked below the embedded ones of its passage on terms: it is not taken
        # to be closer to the question than the least close of them (its passage's cosine would favour
        # it over the units that were actually measured).
        for passage_rows in rows:
            measured = [row.similarity for row in passage_rows if row.measured]
            if measured:
                ceiling = min(measured)
                for row in passage_rows:
                    if not row.measured:
                        row.similarity = min(row.similarity, ceiling)

    def _unit_score(self, row: _Row, codes: list[str]) -> float:
        if row.repeats_heading:
            return 0.0  # a running title or the heading again: it names the subject, it answers nothing
        bonus = self.settings.code_bonus if row.has_code else 0.0
        return min(1.0, 0.5 * max(0.0, row.similarity) + 0.5 * row.lexical + bonus)

    def _span(self, passage: Passage, rows: list[_Row], weights: dict[str, float], codes: list[str]) -> Evidence:
        scores = [self._unit_score(row, codes) for row in rows]
        seed = max(range(len(rows)), key=lambda index: (scores[index], -index))
        first, last = self._grow(rows, scores, seed, codes)
        span = rows[first : last + 1]
        text = " ".join(row.unit.text for row in span)
        coverage = _coverage(set(content_terms(text)) | set(content_terms(passage.citation.heading)), weights)
        similarity = max(row.similarity for row in span)
        # shown for context (the span alone is scored): the passage's opening, else the list's introduction
        context = self._opening(rows, first, last, codes) if self.settings.list_opening else None
        if context is None and (intro := _introduction(rows, first)) is not None:
            context = (intro, intro + 1)
        if context is not None:
            lead = " ".join(row.unit.text for row in rows[context[0] : context[1]])
            text = f"{lead} {'' if context[1] == first else '... '}{text}"
        in_span = code_forms(f"{passage.citation.heading} {text}")
        missing = [code for code in codes if code not in in_span]
        in_passage = code_forms(f"{passage.citation.heading} {passage.text}") if missing else in_span
        absent = [code for code in missing if code not in in_passage]
        return Evidence(
            citation=passage.citation,
            text=text,
            score=round(support_score(similarity, coverage, passage.dense_score), 4),
            similarity=round(max(-1.0, min(1.0, similarity)), 4),
            coverage=round(coverage, 4),
            passage_rank=passage.rank,
            chunk_id=passage.chunk_id,
            missing=missing[:20],
            absent=absent[:20],
        )

    def _opening(self, rows: list[_Row], first: int, last: int, codes: list[str]) -> tuple[int, int] | None:
        """The passage's opening (``start``, ``end``: units ``start..end-1``) before the list that the span
        starting at ``first`` belongs to: what the section says the list is for and where it is. Shown
        when it fits beside the span within the word budget, starts a sentence (a chunk cut mid-sentence
        has no opening), is more than a running title or a heading, and names no code the question does
        not (another machine's or fault's lines are not this list's introduction); None otherwise."""
        if not _listed(rows[first].unit):
            return None
        end = first
        while end > 0 and _listed(rows[end - 1].unit):
            end -= 1
        intro = _introduction(rows, first)  # an introduction run into the list's first item is listed too
        end = end if intro is None else max(end, intro + 1)
        start = 0
        while start < end and (rows[start].repeats_heading or rows[start].unit.heading_like):
            start += 1
        if start == end or not rows[start].unit.text[:1].isupper():
            return None
        opening = rows[start:end]
        if any(code_forms(row.unit.text, whole_only=True) - set(codes) for row in opening):
            return None
        words = sum(_words(row.unit) for row in opening) + sum(_words(row.unit) for row in rows[first : last + 1])
        return (start, end) if words <= self.settings.span_words else None

    def _grow(self, rows: list[_Row], scores: list[float], seed: int, codes: list[str]) -> tuple[int, int]:
        """The span around ``seed``: forward over relevant units and the rest of a procedure, then back
        over relevant units (or the line that introduces the seed), within the word budget. When the
        seed holds a code of the question, a neighbour naming another code (the next row of a fault
        table) ends the span."""
        budget = self.settings.span_words
        if rows[seed].unit.table_row:
            return _table_entry(rows, seed, budget)
        floor = self.settings.neighbour_floor * scores[seed]
        fenced = rows[seed].has_code

        def joins(index: int) -> bool:
            row = rows[index]
            if row.unit.heading_like or (
                fenced and not row.has_code and bool(code_forms(row.unit.text, whole_only=True))
            ):
                return False
            return scores[index] >= floor

        words = _words(rows[seed].unit)
        first = last = seed
        in_steps = rows[seed].unit.step or rows[seed].unit.text.rstrip().endswith(":")
        # a heading ("4 Oil change procedure") answers nothing by itself: its section, up to the next
        # heading, is what it points at
        heads = rows[seed].unit.heading_like
        while last + 1 < len(rows):
            nxt = rows[last + 1]
            # the next sentence of the same paragraph, when it gives values ("Limits: boom 20 mm, ...")
            # or is at least a quarter as relevant as the seed
            continues = not nxt.unit.line_start and (bool(facts(nxt.unit.text)) or scores[last + 1] >= floor / 2)
            body = heads and not nxt.unit.heading_like
            procedure = in_steps and nxt.unit.step
            # a procedure's steps stay whole: a cut one leaves out the steps that follow, so they may take
            # up to twice the budget (every step list of the sample manuals fits; docs/answers.md)
            room = budget * _PROCEDURE_ROOM if procedure else budget
            if not (procedure or continues or body or joins(last + 1)) or words + _words(nxt.unit) > room:
                break
            in_steps = in_steps or nxt.unit.text.rstrip().endswith(":")
            words += _words(nxt.unit)
            last += 1
        while first > 0:
            previous = rows[first - 1]
            introduces = previous.unit.text.rstrip().endswith(":") and rows[first].unit.step
            if not (introduces or joins(first - 1)) or words + _words(previous.unit) > budget:
                break
            words += _words(previous.unit)
            first -= 1
        return first, last


_PROCEDURE_ROOM = 2


def _table_entry(rows: list[_Row], seed: int, budget: int) -> tuple[int, int]:
    """A table row's span: its entry, that is the row that opens it and the rows continuing it (their first
    cell blank: more causes of the same symptom), within the budget; never the next entry, which answers
    another symptom however alike its words."""
    first = last = seed
    while first > 0 and rows[first].unit.continues_row and rows[first - 1].unit.table_row:
        first -= 1
    words = sum(_words(row.unit) for row in rows[first : seed + 1])
    while last + 1 < len(rows) and rows[last + 1].unit.continues_row and words + _words(rows[last + 1].unit) <= budget:
        words += _words(rows[last + 1].unit)
        last += 1
    return first, last


def _introduction(rows: list[_Row], first: int, reach: int = 12) -> int | None:
    """The line that introduces the list an option or step at ``first`` belongs to ("From Settings, tap
    Security for the following options:"), over the list's other items; None when there is none. A
    setting's effect without the path to it, or a step without its procedure, leaves the reader lost."""
    if not _listed(rows[first].unit):
        return None
    for index in range(first - 1, max(-1, first - 1 - reach), -1):
        unit = rows[index].unit
        if _INTRODUCES.search(unit.text):
            return index
        if not _listed(unit):
            return None
    return None


def _listed(unit: Unit) -> bool:
    """A list item: a step, or an option given as "Label: what it does"."""
    return unit.step or bool(_OPTION.match(unit.text))


def _words(unit: Unit) -> int:
    return len(unit.text.split())


def _term_weights(question: str, texts: Sequence[str]) -> dict[str, float]:
    """Each content term of the question, weighted by its rarity among the candidate units (a term
    found in no unit weighs most: the evidence cannot cover it)."""
    terms = list(dict.fromkeys(question_terms(question)))
    if not terms:
        return {}
    frequency: Counter[str] = Counter()
    for text in texts:
        frequency.update(set(content_terms(text)) & set(terms))
    count = len(texts)
    return {term: math.log((count + 1) / (frequency[term] + 0.5)) for term in terms}


def _coverage(terms: set[str], weights: dict[str, float]) -> float:
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(weight for term, weight in weights.items() if term in terms) / total


def _unit_coverage(terms: set[str], heading_terms: set[str], weights: dict[str, float]) -> float:
    """A unit's coverage of the question: half with its heading's terms (what the section is about),
    half by its own (a unit that itself names what is asked beats its neighbours under one heading)."""
    return 0.5 * _coverage(terms | heading_terms, weights) + 0.5 * _coverage(terms, weights)


def _row(unit: Unit, heading_terms: set[str], weights: dict[str, float], asked: list[str], prior: float) -> _Row:
    """A unit scored by its terms (with its heading's), the question's asked codes it holds, its passage's
    cosine until it is embedded, and whether it only repeats its heading (a page's running title)."""
    terms = set(content_terms(unit.text))
    return _Row(
        unit,
        _unit_coverage(terms, heading_terms, weights),
        bool(asked) and _has_codes(unit.text, asked),
        prior,
        repeats_heading=bool(terms) and terms <= heading_terms,
    )


def _has_codes(text: str, codes: Sequence[str]) -> bool:
    forms = code_forms(text)
    return any(code in forms for code in codes)
