"""A model's tokens under a time budget: generation runs in a worker thread, the reader waits at most
until a deadline, and an abandoned generation stops at its next token.

Why: the first word an engineer reads must not wait on a slow model (a 135M model on a CPU needs a
second or more for its prompt alone). The answer's evidence is ready; the model gets a budget to
phrase a lead before it, and what it has not written by then is not waited for. ``cited_sentences``
cuts those tokens into sentences as each completes, with the evidence numbers each cites.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from rag_fed.generators.base import ChatMessage, Generator
from rag_fed.types import CITATION_TAG

__all__ = ["LeadHealth", "TimedTokens", "cited_sentences"]

_DONE = object()


class TimedTokens:
    """Tokens of ``generator.stream(messages)``; :meth:`until` yields those that arrive before a
    deadline. :meth:`stop` (or leaving the ``with`` block) ends the generation at its next token."""

    def __init__(self, generator: Generator, messages: Sequence[ChatMessage], max_tokens: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.exhausted = False
        self._thread = threading.Thread(
            target=self._run, args=(generator, list(messages), max_tokens), name="answer-lead", daemon=True
        )
        self._thread.start()

    def _run(self, generator: Generator, messages: list[ChatMessage], max_tokens: int) -> None:
        tokens = iter(generator.stream(messages, max_tokens=max_tokens))
        try:
            for token in tokens:
                if self._stop.is_set():
                    break
                self._queue.put(token)
        except BaseException as error:  # handed to the reader, which decides
            self.error = error
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()
            self._queue.put(_DONE)

    def until(self, deadline: float) -> Iterator[str]:
        """Tokens until the generation ends or ``deadline`` (``time.monotonic()``) passes."""
        while not self.exhausted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return
            if item is _DONE:
                self.exhausted = True
                return
            assert isinstance(item, str)
            yield item

    def stop(self) -> None:
        self._stop.set()

    def __enter__(self) -> TimedTokens:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class LeadHealth:
    """Whether a model keeps its lead budget, across answers (one per gateway or site process).

    After ``patience`` answers in a row whose lead came too late, the lead is tried only on every
    ``probe_every``-th answer: a model that cannot phrase in time (the packaged 135M model on a small
    CPU) then costs nothing, and a model that becomes fast again is noticed.
    """

    def __init__(self, patience: int = 3, probe_every: int = 20) -> None:
        self._patience = patience
        self._probe_every = probe_every
        self._late_in_row = 0
        self._skipped = 0
        self._lock = threading.Lock()

    def should_try(self) -> bool:
        with self._lock:
            if self._late_in_row < self._patience:
                return True
            self._skipped += 1
            if self._skipped >= self._probe_every:
                self._skipped = 0
                return True
            return False

    def record(self, *, late: bool) -> None:
        with self._lock:
            self._late_in_row = self._late_in_row + 1 if late else 0

    @property
    def late_in_row(self) -> int:
        return self._late_in_row


# -- the model's sentences, as they complete ------------------------------------------------------

_NUMBERED = re.compile(r"\[(\d{1,2})\]")
_ENUMERATION = re.compile(r"^(?:\d{1,2}[.)]|[-*\u2022])\s*")
_SENTENCE_END = re.compile(r"(?<=[^\d\s][.!?])\s+|\n+")


def cited_sentences(tokens: TimedTokens, deadline: Callable[[], float]) -> Iterator[tuple[str, list[int]]]:
    """The model's sentences as they complete before ``deadline()`` (asked again after each sentence),
    each with the evidence numbers it cites (0-based); a sentence cut off by the deadline is dropped."""
    pending = ""
    while True:
        arrived = False
        for token in tokens.until(deadline()):
            arrived = True
            pending += token
            if _SENTENCE_END.search(pending):
                break
        while (end := _SENTENCE_END.search(pending)) is not None:
            sentence, pending = pending[: end.start()], pending[end.end() :]
            if (parsed := _parse_sentence(sentence)) is not None:
                yield parsed
        if tokens.exhausted:
            if (parsed := _parse_sentence(pending)) is not None:
                yield parsed
            return
        if not arrived:
            return  # the deadline passed


def _parse_sentence(raw: str) -> tuple[str, list[int]] | None:
    cited = [int(number) - 1 for number in _NUMBERED.findall(raw)]
    text = CITATION_TAG.sub("", _NUMBERED.sub("", raw))
    text = _ENUMERATION.sub("", " ".join(text.replace(" .", ".").split())).strip(" -*:")
    return (text, list(dict.fromkeys(n for n in cited if n >= 0))) if text else None
