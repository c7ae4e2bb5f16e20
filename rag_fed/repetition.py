"""Small models loop ("1. Check the pump 2. Check the pump ..."): finding and cutting repetition.

``condense`` cleans a finished site answer before the central model sees it (a loop in its prompt is
copied); ``RepetitionGuard`` cuts the central model's own streamed answer at the first repeated sentence.
"""

from __future__ import annotations

import re

from rag_fed.types import CITATION_TAG

__all__ = ["RepetitionGuard", "condense"]

_ENUMERATION = re.compile(r"^\s*(?:\d{1,3}[.)]|[-*•])\s*")
# The end of a sentence (not of "1." in a list) or of a line: the unit in which repetition is judged.
_SEGMENT_END = re.compile(r"(?<=[^\d\s][.!?])[ \t]+|\n")
_MIN_KEY_CHARS = 8  # "Yes." twice is not a loop


def condense(answer: str) -> str:
    """``answer`` without repeated sentences or lines and without a trailing ``Sources:`` line.

    Small models loop ("1. Check the pump 2. Check the pump ..."); fed to the central model, a loop
    is copied. The sources a site listed are in its passages, which the prompt numbers anyway.
    """
    seen: set[str] = set()
    lines = []
    for line in answer.strip().splitlines():
        if line.strip().lower().startswith("sources:"):
            continue
        kept = []
        for sentence in _SEGMENT_END.split(line):
            key = _repetition_key(sentence)
            if _repeats(key, seen):
                continue
            seen.add(key)
            kept.append(sentence)
        if any(part.strip() for part in kept) or not line.strip():
            lines.append(" ".join(kept))
    return "\n".join(lines).strip()


class RepetitionGuard:
    """Passes text on in whole sentences or lines, and stops at the first one that repeats an earlier
    one: a small model that starts looping has nothing more to say."""

    def __init__(self) -> None:
        self._pending = ""
        self._seen: set[str] = set()
        self.stopped = False

    def feed(self, text: str) -> list[str]:
        self._pending += text
        ready: list[str] = []
        while not self.stopped and (end := _SEGMENT_END.search(self._pending)) is not None:
            segment, self._pending = self._pending[: end.end()], self._pending[end.end() :]
            ready.extend(self._check(segment))
        return ready

    def flush(self) -> list[str]:
        segment, self._pending = self._pending, ""
        return [] if self.stopped else self._check(segment)

    def _check(self, segment: str) -> list[str]:
        key = _repetition_key(segment)
        if _repeats(key, self._seen):
            self.stopped = True
            self._pending = ""
            return []
        self._seen.add(key)
        return [segment]


def _repetition_key(text: str) -> str:
    words = re.sub(r"[\W_]+", " ", CITATION_TAG.sub("", _ENUMERATION.sub("", text)).lower()).strip()
    return words if len(words) >= _MIN_KEY_CHARS else ""


def _repeats(key: str, seen: set[str]) -> bool:
    """Whether ``key`` was said before, whole or as the start of a longer sentence (a loop cut short)."""
    return bool(key) and any(earlier.startswith(key) for earlier in seen)
