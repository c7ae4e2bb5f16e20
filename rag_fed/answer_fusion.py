"""The central model fuses the sites' answers into one answer that cites ``[site:doc#section]``.

Like a site's model, the central model sees its sources numbered ``[1]..[n]`` (every citation the site
answers rest on, each site answer rewritten to cite those numbers) and cites by number; numbers are
turned back into ``[site:doc#section]`` tags as the text streams out. When the central model fails or
says nothing, the sites' own best answers are returned with their citations, and the answer says so
(``FusedAnswer.fallback``). Streaming is the one primitive: :meth:`AnswerFusion.fuse` consumes it.

:meth:`AnswerFusion.stream_passages` is the fast path: no site model runs, and the central model answers
from the fused passages the sites released (under ``snippets`` or ``passages`` egress) directly. On a CPU
that turns a minute of three small models writing site answers into a few seconds to the first token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence

from pydantic import BaseModel, Field

from rag_fed.generators.base import ChatMessage, Generator
from rag_fed.repetition import RepetitionGuard, condense
from rag_fed.types import CITATION_TAG, Citation, Passage, SiteAnswer

__all__ = [
    "AnswerFusion",
    "FusedAnswer",
    "FusionStream",
    "fusion_messages",
    "number_sources",
    "passage_messages",
]

_log = logging.getLogger(__name__)

_LABEL = CITATION_TAG
_NUMBERED = re.compile(r"\[(\d{1,3})\]")
_HOLD_CHARS = 6  # longest partial "[123" worth holding back while streaming
_QUOTE_CHARS = 300  # of a passage quoted in the fallback
_NO_ANSWERS = "None of the sites that replied had an answer to this question."
_NO_PASSAGES = (
    "None of the sites that replied released passages for this question (a site whose egress policy is "
    "'answer' sends none; ask with site answers on)."
)


class FusedAnswer(BaseModel):
    """The final answer. ``citations``: the sources it cites, in order of first citation."""

    text: str
    citations: list[Citation] = Field(default_factory=list)
    fallback: bool = False
    model: str = ""
    error: str | None = None


def number_sources(answers: Sequence[SiteAnswer]) -> list[Citation]:
    """Every citation the site answers rest on, once, in site order: the numbered source list."""
    sources: dict[str, Citation] = {}
    for answer in answers:
        for passage in answer.passages:
            sources.setdefault(passage.citation.label, passage.citation)
        for match in _LABEL.finditer(answer.answer):
            label = match.group(0)
            if label not in sources:
                sources[label] = _citation_from_label(match.group(1), match.group(2))
    return list(sources.values())


def fusion_messages(
    question: str,
    answers: Sequence[SiteAnswer],
    sources: Sequence[Citation],
    history: Sequence[ChatMessage] = (),
    answer_chars: int = 1200,
) -> list[ChatMessage]:
    """System prompt, earlier turns, then the numbered sources, site answers and the question."""
    numbers = {citation.label: index for index, citation in enumerate(sources, start=1)}
    listed = "\n".join(f"[{index}] {c.site_id}: {c.heading}" for index, c in enumerate(sources, start=1))
    site_answers = "\n\n".join(
        f"Site {answer.site_id} answered:\n"
        + _LABEL.sub(lambda m: f"[{numbers[m.group(0)]}]" if m.group(0) in numbers else "", answer.answer)[
            :answer_chars
        ]
        for answer in answers
    )
    system = (
        "You are the central maintenance assistant of a group of plants. Several plants answered the "
        "engineer's question from their own documents. Write one short answer (two to four sentences) "
        "using only their answers, and cite the numbered sources you rely on like [1]. If the plants "
        "disagree, say so and name them. If none of them answers the question, say that."
    )
    return _conversation(system, history, f"Sources:\n{listed}\n\n{site_answers}\n\nQuestion: {question}")


def passage_messages(
    question: str,
    passages: Sequence[Passage],
    history: Sequence[ChatMessage] = (),
    passage_chars: int = 600,
) -> list[ChatMessage]:
    """System prompt, earlier turns, then the passages numbered ``[1]..[n]`` (in fused order) and the
    question. ``passages`` must have distinct citations; the numbers are their positions."""
    listed = "\n\n".join(
        f"[{index}] {p.citation.site_id}: {p.citation.heading}\n{p.text.strip()[:passage_chars]}"
        for index, p in enumerate(passages, start=1)
    )
    system = (
        "You are the central maintenance assistant of a group of plants. Below are passages from the "
        "plants' own documents. Write one short answer (two to four sentences) to the engineer's question "
        "using only these passages, and cite the numbered passages you rely on like [1]. If the passages "
        "do not answer the question, say that."
    )
    return _conversation(system, history, f"Passages:\n{listed}\n\nQuestion: {question}")


def _conversation(system: str, history: Sequence[ChatMessage], user: str) -> list[ChatMessage]:
    """Our system prompt, the earlier turns (their own system prompts dropped), then the new user turn."""
    earlier = [turn for turn in history if turn.role != "system"]
    return [ChatMessage("system", system), *earlier, ChatMessage("user", user)]


class FusionStream:
    """Text deltas of the fused answer; :attr:`result` is set once the iteration has finished."""

    def __init__(self, produce: Callable[[FusionStream], Iterator[str]]) -> None:
        self.result: FusedAnswer | None = None
        self._deltas = produce(self)  # a generator: nothing runs until the first delta is asked for

    def __iter__(self) -> Iterator[str]:
        return self._deltas

    def collect(self) -> FusedAnswer:
        """Run the stream to its end (whatever was not read yet) and return the result."""
        for _ in self._deltas:
            pass
        if self.result is None:
            raise RuntimeError("the fusion stream ended without a result")
        return self.result


class AnswerFusion:
    """Fuses site answers (or, on the fast path, the fused passages) with ``generator``, the central model."""

    def __init__(
        self,
        generator: Generator | None,
        *,
        max_tokens: int = 300,
        max_fallback_answers: int = 3,
        answer_chars: int = 1200,
        max_passages: int = 6,
    ) -> None:
        self._generator = generator
        self._max_tokens = max_tokens
        self._max_fallback = max_fallback_answers
        self._answer_chars = answer_chars
        self._max_passages = max_passages

    def fuse(self, question: str, answers: Sequence[SiteAnswer], history: Sequence[ChatMessage] = ()) -> FusedAnswer:
        return self.stream(question, answers, history).collect()

    def fuse_passages(
        self, question: str, passages: Sequence[Passage], history: Sequence[ChatMessage] = ()
    ) -> FusedAnswer:
        return self.stream_passages(question, passages, history).collect()

    def stream(self, question: str, answers: Sequence[SiteAnswer], history: Sequence[ChatMessage] = ()) -> FusionStream:
        """``answers`` best first (the order used when falling back)."""
        condensed = [answer.model_copy(update={"answer": condense(answer.answer)}) for answer in answers]
        usable = [answer for answer in condensed if answer.answer]
        if not usable:
            return _fixed(_NO_ANSWERS)
        sources = number_sources(usable)
        messages = fusion_messages(question, usable, sources, history, self._answer_chars)

        def fallback(reason: str, after_partial: bool) -> tuple[str, list[Citation]]:
            shown = usable[: self._max_fallback]
            return self._fallback_text(shown, reason, after_partial), number_sources(shown)

        return FusionStream(lambda holder: self._deltas(holder, messages, sources, fallback))

    def stream_passages(
        self, question: str, passages: Sequence[Passage], history: Sequence[ChatMessage] = ()
    ) -> FusionStream:
        """Answer from ``passages`` (fused order, best first) without site answers; the fallback quotes
        the best passages. Passages without text (``answer`` egress) cannot be used."""
        usable = list({p.citation.label: p for p in reversed(passages) if p.text.strip()}.values())[::-1]
        usable = usable[: self._max_passages]
        if not usable:
            return _fixed(_NO_PASSAGES)
        sources = [p.citation for p in usable]
        messages = passage_messages(question, usable, history)

        def fallback(reason: str, after_partial: bool) -> tuple[str, list[Citation]]:
            shown = usable[: self._max_fallback]
            intro = (
                "\n\n[The central model stopped early; the best passages follow.]\n\n"
                if after_partial
                else f"The central model could not answer ({reason}); here are the best passages.\n\n"
            )
            quotes = [f"{p.citation.label} {_shorten(p.text, _QUOTE_CHARS)}" for p in shown]
            return intro + "\n\n".join(quotes), [p.citation for p in shown]

        return FusionStream(lambda holder: self._deltas(holder, messages, sources, fallback))

    def _deltas(
        self,
        holder: FusionStream,
        messages: list[ChatMessage],
        sources: list[Citation],
        fallback: Callable[[str, bool], tuple[str, list[Citation]]],
    ) -> Iterator[str]:
        resolver, guard = _Resolver(sources), RepetitionGuard()
        produced: list[str] = []
        error: str | None = None
        model = self._generator.name if self._generator is not None else ""
        try:
            if self._generator is None:
                raise RuntimeError("no central model is configured")
            tokens = iter(self._generator.stream(messages, max_tokens=self._max_tokens))
            try:
                for token in tokens:
                    yield from _keep(produced, guard.feed(resolver.feed(token)))
                    if guard.stopped:
                        _log.info("the central model started repeating itself; its answer is cut there")
                        break
            finally:
                close = getattr(tokens, "close", None)
                if close is not None:
                    close()  # stop generating as soon as the loop is left
        except Exception as exc:  # any failure of the central model falls back; the cause is logged
            _log.warning("central model failed, falling back: %s", exc)
            error = f"{type(exc).__name__}: {exc}"
        # What is still held back (a partial sentence or "[n") is kept, also after a failure.
        yield from _keep(produced, [*guard.feed(resolver.flush()), *guard.flush()])
        if error is None and produced:
            if not resolver.cited:
                note = "\n\nSources: " + ", ".join(c.label for c in sources)
                produced.append(note)
                yield note
                resolver.cited.extend(sources)
            holder.result = FusedAnswer(text="".join(produced), citations=resolver.cited, model=model)
            return
        text, shown = fallback(error or "the central model returned no text", bool(produced))
        yield text
        holder.result = FusedAnswer(
            text="".join(produced) + text,
            citations=_unique([*resolver.cited, *shown]),
            fallback=True,
            model=model,
            error=error,
        )

    def _fallback_text(self, answers: Sequence[SiteAnswer], reason: str, after_partial: bool) -> str:
        intro = (
            "\n\n[The central model stopped early; the sites' own answers follow.]\n\n"
            if after_partial
            else f"The central model could not combine the site answers ({reason}); "
            "here are the sites' own answers.\n\n"
        )
        parts = []
        for answer in answers:
            text = answer.answer.strip()
            if not _LABEL.search(text) and answer.passages:
                text += " (sources: " + ", ".join(dict.fromkeys(p.citation.label for p in answer.passages)) + ")"
            parts.append(f"{answer.site_id}: {text}")
        return intro + "\n\n".join(parts)


def _fixed(text: str) -> FusionStream:
    """A stream of one fixed message (nothing to fuse)."""

    def produce(holder: FusionStream) -> Iterator[str]:
        holder.result = FusedAnswer(text=text)
        yield text

    return FusionStream(produce)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


class _Resolver:
    """Turns ``[n]`` into source tags in streamed text, holding back a ``[`` until it can tell."""

    def __init__(self, sources: Sequence[Citation]) -> None:
        self._sources = sources
        self._buffer = ""
        self.cited: list[Citation] = []

    def feed(self, text: str) -> str:
        self._buffer += text
        cut = self._buffer.rfind("[")
        if cut != -1 and "]" not in self._buffer[cut:] and len(self._buffer) - cut <= _HOLD_CHARS:
            ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        else:
            ready, self._buffer = self._buffer, ""
        return self._resolve(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._resolve(ready)

    def _resolve(self, text: str) -> str:
        def expand(match: re.Match[str]) -> str:
            number = int(match.group(1))
            if not 1 <= number <= len(self._sources):
                return ""
            citation = self._sources[number - 1]
            if citation not in self.cited:
                self.cited.append(citation)
            return citation.label

        text = _NUMBERED.sub(expand, text)
        # A model may also copy a tag as it saw it in a site answer: count it as cited.
        known = {citation.label: citation for citation in self._sources}
        for match in _LABEL.finditer(text):
            citation = known.get(match.group(0))
            if citation is not None and citation not in self.cited:
                self.cited.append(citation)
        return text


def _keep(produced: list[str], pieces: Sequence[str]) -> Iterator[str]:
    """Record and pass on ``pieces``; leading whitespace of the answer is dropped, so an answer of
    blanks counts as no answer at all."""
    for piece in pieces:
        text = piece if produced else piece.lstrip()
        if text:
            produced.append(text)
            yield text


def _citation_from_label(site_id: str, target: str) -> Citation:
    doc_id, _, anchor = target.partition("#")
    return Citation(site_id=site_id, doc_id=doc_id, title=doc_id, section=anchor)


def _unique(citations: Sequence[Citation]) -> list[Citation]:
    return list({citation.label: citation for citation in citations}.values())
