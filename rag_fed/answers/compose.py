"""Composing the answer an engineer reads from evidence: refuse, quote, and let a model phrase only
what the evidence supports.

Strategies (``AnswerSettings.strategy``, per site or gateway and per request):

- ``extractive``: the selected evidence itself, each item cited; no model runs.
- ``grounded`` (default): a model writes at most ``lead_sentences`` short sentences over the selected
  evidence; each is checked (:func:`~rag_fed.answers.support.check_sentence`) and dropped unless
  supported; the evidence follows. A model that fails or writes nothing supported leaves the evidence.
- ``generative``: a (strong) model writes freely over the evidence, cited; every sentence is still
  checked and the verdicts travel with the answer, but nothing is dropped.

Whatever the strategy, when no evidence supports an answer (the best item scores under
``min_support``, or a code of the question is in no item) the answer says that the documents of the
sites asked do not cover the question and names the nearest documents; no model is asked.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from rag_fed.answers.prompts import generative_messages, lead_messages
from rag_fed.answers.ranking import RefusalReason, rank_evidence, select_for_answer, shown_text, unmatched_codes
from rag_fed.answers.support import SentenceSupport, check_sentence
from rag_fed.answers.timed import LeadHealth, TimedTokens, cited_sentences
from rag_fed.config import AnswerSettings, AnswerStrategy
from rag_fed.generators.base import ChatMessage, Generator
from rag_fed.types import Citation, Evidence

__all__ = ["AnswerComposer", "AnswerStream", "ComposedAnswer", "LeadHealth", "refusal_text"]

_log = logging.getLogger(__name__)


class ComposedAnswer(BaseModel):
    """The answer as shown, what it rests on and how it was made.

    ``citations``: the sources the answer uses, in order; ``more``: further evidence that was found but
    not used (the "more results" of a user interface); ``support``: the verdict on every sentence a
    model wrote (kept or dropped); ``refused``: the documents do not cover the question, or no site
    replied; ``refusal``: which (the rule of :func:`~rag_fed.answers.ranking.select_for_answer`, or
    ``"no reply"``).
    """

    text: str
    strategy: AnswerStrategy
    lead: str = Field(default="", description="The checked sentences a model wrote (grounded), with their tags.")
    citations: list[Citation] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    more: list[Citation] = Field(default_factory=list)
    refused: bool = False
    refusal: RefusalReason | Literal["no reply"] | None = None
    not_found: list[str] = Field(
        default_factory=list, description="Codes of the question that no evidence shown mentions (compact form)."
    )
    support: list[SentenceSupport] = Field(default_factory=list)
    model: str = ""
    error: str | None = None

    @property
    def dropped(self) -> list[str]:
        return [verdict.sentence for verdict in self.support if not verdict.supported]


class AnswerStream:
    """Text deltas of a composed answer; :attr:`result` is set once the iteration has finished."""

    def __init__(self, produce: Callable[[AnswerStream], Iterator[str]]) -> None:
        self.result: ComposedAnswer | None = None
        self._deltas = produce(self)  # a generator: nothing runs until the first delta is asked for

    def __iter__(self) -> Iterator[str]:
        return self._deltas

    def collect(self) -> ComposedAnswer:
        """Run the stream to its end and return the result."""
        for _ in self._deltas:
            pass
        if self.result is None:
            raise RuntimeError("the answer stream ended without a result")
        return self.result


def refusal_text(sites: Sequence[str], nearest: Sequence[Evidence]) -> str:
    """What an answer says when the documents do not cover the question."""
    asked = ", ".join(sites) if sites else "asked"
    text = f"The documents of the sites asked ({asked}) do not cover this question."
    if nearest:
        listed = "; ".join(f"{item.citation.heading} {item.citation.label}" for item in nearest)
        text += f" Nearest documents: {listed}."
    return text


class AnswerComposer:
    """Composes answers from evidence with ``generator`` (``None``: extractive only)."""

    def __init__(
        self,
        settings: AnswerSettings | None = None,
        generator: Generator | None = None,
        *,
        lead_health: LeadHealth | None = None,
    ) -> None:
        self.settings = settings or AnswerSettings()
        self._generator = generator
        self._lead_health = lead_health

    def compose(
        self,
        question: str,
        evidence: Sequence[Evidence],
        *,
        sites: Sequence[str] = (),
        history: Sequence[ChatMessage] = (),
        strategy: AnswerStrategy | None = None,
        answered: Sequence[str] | None = None,
        ends_at: float | None = None,
    ) -> ComposedAnswer:
        stream = self.stream(
            question, evidence, sites=sites, history=history, strategy=strategy, answered=answered, ends_at=ends_at
        )
        return stream.collect()

    def stream(
        self,
        question: str,
        evidence: Sequence[Evidence],
        *,
        sites: Sequence[str] = (),
        history: Sequence[ChatMessage] = (),
        strategy: AnswerStrategy | None = None,
        answered: Sequence[str] | None = None,
        ends_at: float | None = None,
    ) -> AnswerStream:
        """``evidence`` from any number of sites, in any order. ``sites``: the sites asked (named in a
        refusal); ``answered``: those that replied, when known (none replied: the answer says so rather
        than that the documents do not cover the question); ``ends_at`` (``time.monotonic()``): when the
        answer is no longer waited for, past which the model is stopped whatever its own budgets."""
        chosen = strategy or self.settings.strategy
        if answered is not None and not answered:
            text = (
                f"None of the sites asked ({', '.join(sites)}) replied, so there is no evidence to answer from."
                if sites
                else "No site could be asked (none is registered, or every site's circuit is open), so there is "
                "no evidence to answer from."
            )
            return _fixed(text, ComposedAnswer(text=text, strategy=chosen, refused=True, refusal="no reply"))
        ranked = rank_evidence(evidence)
        selection = select_for_answer(question, ranked, self.settings)
        selected = selection.items
        note = unmatched_codes(question, selected)
        more = [item.citation for item in ranked if item not in selected]
        if selection.refusal is not None:
            text = refusal_text(sites, _nearest(ranked))
            result = ComposedAnswer(
                text=text, strategy=chosen, evidence=[], more=more, refused=True, refusal=selection.refusal
            )
            return _fixed(text, result)
        if chosen == "extractive" or self._generator is None:
            body = _body(selected)
            return _fixed(
                body,
                ComposedAnswer(
                    text=body,
                    strategy=chosen,
                    citations=_cites(selected),
                    evidence=selected,
                    more=more,
                    not_found=note,
                ),
            )
        if chosen == "generative":
            return AnswerStream(
                lambda holder: self._generative(holder, question, selected, more, history, note, ends_at)
            )
        return AnswerStream(lambda holder: self._grounded(holder, question, selected, more, note, ends_at))

    # -- grounded ------------------------------------------------------------------------------

    def _grounded(
        self,
        holder: AnswerStream,
        question: str,
        selected: list[Evidence],
        more: list[Citation],
        note: list[str],
        ends_at: float | None,
    ) -> Iterator[str]:
        assert self._generator is not None
        verdicts: list[SentenceSupport] = []
        lead: list[str] = []
        shown: list[str] = []
        used: list[Citation] = []
        error: str | None = None
        budget = self.settings.lead_budget_s
        last = math.inf if ends_at is None else ends_at
        deadline = [min(last, time.monotonic() + budget)]
        if self._lead_health is not None and not self._lead_health.should_try():
            yield from self._evidence_only(holder, selected, more, note, "the model missed its lead budget recently")
            return
        timed_out = False
        try:
            with TimedTokens(
                self._generator, lead_messages(question, selected), self.settings.lead_max_tokens
            ) as tokens:
                for sentence, numbers in cited_sentences(tokens, lambda: deadline[0]):
                    cited = _known(numbers, selected)
                    verdict = self._check(sentence, selected, cited)
                    verdicts.append(verdict)
                    if not verdict.supported or any(_same(sentence, kept) for kept in lead):
                        continue
                    backing = [selected[index].citation for index in (cited or verdict.evidence[:1])]
                    piece = f"{sentence} {' '.join(c.label for c in _unique(backing))}".strip()
                    piece = (" " if lead else "") + piece
                    lead.append(sentence)
                    used.extend(backing)
                    shown.append(piece)
                    yield piece
                    if len(lead) >= self.settings.lead_sentences:
                        break
                    deadline[0] = min(last, time.monotonic() + budget)  # the next sentence's own budget
                if tokens.error is not None:
                    raise tokens.error
                timed_out = not tokens.exhausted and len(lead) < self.settings.lead_sentences
                if timed_out:
                    _log.info("the model did not finish a lead sentence within %.1f s; evidence follows", budget)
        except Exception as exc:  # a failing model leaves the evidence, which is the answer anyway
            _log.warning("the model could not phrase a lead (%s); the answer is the evidence", exc)
            error = f"{type(exc).__name__}: {exc}"
        if self._lead_health is not None:
            self._lead_health.record(late=timed_out and not lead)
        lead_text = "".join(shown)
        body = ("\n\n" if lead else "") + _body(selected)
        shown.append(body)
        yield body
        holder.result = ComposedAnswer(
            text="".join(shown),
            lead=lead_text,
            strategy="grounded",
            citations=_unique([*used, *_cites(selected)]),
            evidence=selected,
            more=more,
            not_found=note,
            support=verdicts,
            model=self._generator.name,
            error=error,
        )

    def _evidence_only(
        self, holder: AnswerStream, selected: list[Evidence], more: list[Citation], note: list[str], reason: str
    ) -> Iterator[str]:
        body = _body(selected)
        holder.result = ComposedAnswer(
            text=body,
            strategy="grounded",
            citations=_cites(selected),
            evidence=selected,
            more=more,
            not_found=note,
            model=self._generator.name if self._generator is not None else "",
            error=reason,
        )
        yield body

    def _check(self, sentence: str, selected: Sequence[Evidence], cited: Sequence[int]) -> SentenceSupport:
        return check_sentence(
            sentence,
            [item.text for item in selected],
            cited,
            min_overlap=self.settings.min_overlap,
            min_bigram_overlap=self.settings.min_bigram_overlap,
            headings=[item.citation.heading for item in selected],
        )

    # -- generative ----------------------------------------------------------------------------

    def _generative(
        self,
        holder: AnswerStream,
        question: str,
        selected: list[Evidence],
        more: list[Citation],
        history: Sequence[ChatMessage],
        note: list[str],
        ends_at: float | None,
    ) -> Iterator[str]:
        assert self._generator is not None
        verdicts: list[SentenceSupport] = []
        shown: list[str] = []
        used: list[Citation] = []
        error: str | None = None
        messages = generative_messages(question, selected, history)
        try:
            with TimedTokens(self._generator, messages, self.settings.generative_max_tokens) as tokens:
                until = time.monotonic() + self.settings.generative_timeout_s  # for the whole answer
                until = until if ends_at is None else min(until, ends_at)
                sentences = list(cited_sentences(tokens, lambda: until))
                if tokens.error is not None:
                    raise tokens.error
            for sentence, numbers in sentences:
                cited = _known(numbers, selected)
                verdicts.append(self._check(sentence, selected, cited))
                used.extend(selected[index].citation for index in cited)
                labels = " ".join(selected[index].citation.label for index in cited)
                piece = (" " if shown else "") + f"{sentence} {labels}".strip()
                shown.append(piece)
                yield piece
        except Exception as exc:
            _log.warning("the model failed while answering (%s); the evidence follows", exc)
            error = f"{type(exc).__name__}: {exc}"
        if not shown or not used:
            tail = "Sources: " + " ".join(c.label for c in _cites(selected)) if shown else _body(selected)
            tail = ("\n\n" if shown else "") + tail
            shown.append(tail)
            yield tail
            used.extend(_cites(selected))
        holder.result = ComposedAnswer(
            text="".join(shown),
            strategy="generative",
            citations=_unique(used),
            evidence=selected,
            more=more,
            not_found=note,
            support=verdicts,
            model=self._generator.name,
            error=error,
        )


def _body(items: Sequence[Evidence]) -> str:
    return "\n\n".join(f"{shown_text(item)} {item.citation.label}" for item in items)


def _cites(items: Sequence[Evidence]) -> list[Citation]:
    return _unique([item.citation for item in items])


def _unique(citations: Sequence[Citation]) -> list[Citation]:
    return list({citation.label: citation for citation in citations}.values())


def _nearest(ranked: Sequence[Evidence], count: int = 3) -> list[Evidence]:
    seen: set[tuple[str, str]] = set()
    nearest = []
    for item in ranked:
        key = (item.citation.site_id, item.citation.doc_id)
        if key not in seen:
            seen.add(key)
            nearest.append(item)
        if len(nearest) == count:
            break
    return nearest


def _known(numbers: Sequence[int], selected: Sequence[Evidence]) -> list[int]:
    """The evidence numbers a sentence cites that name an item (a model may cite [7] of three)."""
    return [number for number in numbers if number < len(selected)]


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _fixed(text: str, result: ComposedAnswer) -> AnswerStream:
    def produce(holder: AnswerStream) -> Iterator[str]:
        holder.result = result
        yield text

    return AnswerStream(produce)
