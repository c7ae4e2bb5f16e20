"""Training pairs from a site's log of engineers' judgements: each question with the passage an engineer
found useful, and the site's own high-ranked passages that were not (hard negatives).

Runs at the site, on its own log and docstore (:func:`rag_fed.training.site_pairs.mine_site_pairs` reads
them). A judgement names a document and an *anchor*, the place answers cite (``p12`` for page 12 of a PDF,
the innermost heading of the chunk's section, or ``""`` for the whole document); it is resolved to the
chunks under that anchor, and when several chunks sit there the one the site's embedder ranks highest for
the question is taken: that is the passage the engineer was most likely shown.

Negatives of a question, ``hard_negatives`` of them: first the passages judged not useful for it, then the
passages the site ranks highest for it, never a chunk under an anchor accepted for it nor the text of one
of its positives. Questions are grouped case- and space-insensitively, so one question asked twice
yields one set of pairs. A judgement whose document the site no longer holds is skipped and counted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from rag_fed.training.pairs import TrainingPair
from rag_fed.types import document_anchor

__all__ = [
    "ChunkScorer",
    "FeedbackChunk",
    "FeedbackJudgement",
    "FeedbackPairs",
    "feedback_pairs",
    "question_key",
]

ChunkScorer = Callable[[Sequence[str]], NDArray[np.float32]]
"""Scores of questions against the site's chunks: one row per question, one column per chunk (in the order
the chunks were given), higher is better; the site's dense ranking (question vector · chunk vector)."""

_QUESTIONS_PER_CALL = 64
_PAGE_ANCHOR = re.compile(r"p(\d+)")


class FeedbackJudgement(Protocol):
    """What pair building reads of a judgement (``rag_fed.feedback.Judgement`` has it)."""

    @property
    def question(self) -> str: ...

    @property
    def doc_id(self) -> str: ...

    @property
    def anchor(self) -> str: ...

    @property
    def useful(self) -> bool: ...


@dataclass(frozen=True)
class FeedbackChunk:
    """One chunk of the site's docstore, with what anchors are matched against."""

    chunk_id: int
    doc_id: str
    text: str
    section: str = ""
    page: int | None = None

    @property
    def anchor(self) -> str:
        """As a citation of this chunk names its place."""
        return document_anchor(self.section, self.page)


@dataclass(frozen=True)
class FeedbackPairs:
    """The pairs and what became of the judgements they were built from."""

    pairs: tuple[TrainingPair, ...]
    judgements: int
    questions: int
    """Distinct questions with at least one useful passage (each gives one pair per useful passage)."""
    vanished_documents: int
    """Judgements skipped because the site no longer holds their document."""
    anchors_not_found: int
    """Judgements whose anchor matched no chunk of the document: the whole document stood in for it."""
    without_useful: int
    """Questions judged only "not useful": nothing to learn towards, so no pair."""


@dataclass
class _Question:
    text: str
    accepted: list[list[int]] = field(default_factory=list)
    rejected: list[list[int]] = field(default_factory=list)


def question_key(question: str) -> str:
    """The form questions are grouped by: whitespace collapsed, case folded."""
    return " ".join(question.split()).casefold()


def feedback_pairs(
    judgements: Iterable[FeedbackJudgement],
    chunks: Sequence[FeedbackChunk],
    score: ChunkScorer,
    *,
    hard_negatives: int,
) -> FeedbackPairs:
    """Pairs ``question -> useful passage`` with up to ``hard_negatives`` negatives each (0: none)."""
    by_document: dict[str, list[int]] = {}
    for index, chunk in enumerate(chunks):
        by_document.setdefault(chunk.doc_id, []).append(index)
    questions: dict[str, _Question] = {}
    read = vanished = not_found = 0
    for judgement in judgements:
        read += 1
        in_document = by_document.get(judgement.doc_id)
        if not in_document:
            vanished += 1
            continue
        under, found = _under_anchor(chunks, in_document, judgement.anchor)
        not_found += not found
        text = " ".join(judgement.question.split())
        entry = questions.setdefault(question_key(text), _Question(text))
        (entry.accepted if judgement.useful else entry.rejected).append(under)
    learnable = [entry for entry in questions.values() if entry.accepted]
    pairs: list[TrainingPair] = []
    for start in range(0, len(learnable), _QUESTIONS_PER_CALL):
        batch = learnable[start : start + _QUESTIONS_PER_CALL]
        scores = np.asarray(score([entry.text for entry in batch]), dtype=np.float32)
        if scores.shape != (len(batch), len(chunks)):
            raise ValueError(f"the scorer gave {scores.shape} scores for {len(batch)} questions x {len(chunks)} chunks")
        for entry, row in zip(batch, scores, strict=True):
            pairs.extend(_pairs_of(entry, chunks, row, hard_negatives))
    return FeedbackPairs(
        pairs=tuple(pairs),
        judgements=read,
        questions=len(learnable),
        vanished_documents=vanished,
        anchors_not_found=not_found,
        without_useful=len(questions) - len(learnable),
    )


def _under_anchor(chunks: Sequence[FeedbackChunk], in_document: list[int], anchor: str) -> tuple[list[int], bool]:
    """The chunks of the document under ``anchor`` and whether it was found (else the whole document).

    A citation's own anchor matches first; failing that, an imported log may name a page of a document
    whose chunks carry headings too, or an outer heading of the section path."""
    wanted = _normalised(anchor)
    if not wanted:
        return in_document, True
    exact = [i for i in in_document if _normalised(chunks[i].anchor) == wanted]
    if exact:
        return exact, True
    page = _PAGE_ANCHOR.fullmatch(wanted)
    on_page = [i for i in in_document if page is not None and chunks[i].page == int(page.group(1))]
    if on_page:
        return on_page, True
    within = [i for i in in_document if wanted in {_normalised(part) for part in chunks[i].section.split(" > ")}]
    if within:
        return within, True
    return in_document, False


def _pairs_of(
    entry: _Question, chunks: Sequence[FeedbackChunk], row: NDArray[np.float32], hard_negatives: int
) -> list[TrainingPair]:
    positives = list(dict.fromkeys(_best(under, row) for under in entry.accepted))
    positive_texts = list(dict.fromkeys(chunks[i].text for i in positives))
    if hard_negatives == 0:
        return [TrainingPair(entry.text, text) for text in positive_texts]
    excluded = {i for under in entry.accepted for i in under}
    seen_texts = {_normalised(text) for text in positive_texts}
    negatives: list[str] = []
    rejected = (_best(under, row) for under in entry.rejected)
    for index in chain(rejected, _ranked(row, hard_negatives + len(excluded) + len(entry.rejected))):
        if len(negatives) == hard_negatives:
            break
        text = chunks[index].text
        key = _normalised(text)
        if index in excluded or key in seen_texts:
            continue
        seen_texts.add(key)
        negatives.append(text)
    return [TrainingPair(entry.text, text, tuple(negatives)) for text in positive_texts]


def _best(under: list[int], row: NDArray[np.float32]) -> int:
    """The chunk of ``under`` the site ranks highest (the first of them on a tie)."""
    return under[int(np.argmax(row[under]))]


def _ranked(row: NDArray[np.float32], wanted: int) -> Iterator[int]:
    """Chunk indices best first: a partial sort of the top few, then (rarely needed) all the rest."""
    depth = min(len(row), 4 * wanted + 16)
    top = np.argpartition(-row, depth - 1)[:depth] if depth < len(row) else np.arange(len(row))
    top = top[np.lexsort((top, -row[top]))]
    yield from (int(i) for i in top)
    if depth < len(row):
        rest = np.setdiff1d(np.arange(len(row)), top, assume_unique=True)
        yield from (int(i) for i in rest[np.lexsort((rest, -row[rest]))])


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()
