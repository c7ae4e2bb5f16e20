"""What may leave a site: its egress policy (how much passage text) and redaction of what does leave.

Policies, from least to most shared:

- ``answer``: the local model's checked answer and the citations it rests on (document id, title,
  section, page, score, rank), no passage text, evidence spans included;
- ``snippets``: the answer, the evidence spans (the sentences that answer the question, at most
  ``answers.evidence.span_words`` words each) and the first 300 characters of each passage;
- ``passages``: the answer, the evidence and the passages in full.

Redaction runs on every string that leaves (answer, passage text, evidence, document ids, titles,
sections), before the policy cuts the text, so a cut cannot split a match and leave half of it
(``...@kes``); and on the NFKC form of the text, so full-width or composed look-alikes (``ａｎｎａ＠...``)
match as their plain form. ``tests/rag_fed/site/leak_corpus.py`` lists what every policy must stop.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from rag_fed.memo import BoundedMemo
from rag_fed.types import Citation, Evidence, Passage

__all__ = [
    "CREDENTIAL_PATTERN",
    "EMAIL_PATTERN",
    "REDACTED",
    "SERIAL_PATTERN",
    "SNIPPET_CHARS",
    "SPELLED_EMAIL_PATTERN",
    "EgressPolicy",
    "RedactionSettings",
    "Redactor",
    "apply_egress",
    "release_evidence",
]

EgressPolicy = Literal["answer", "snippets", "passages"]

SNIPPET_CHARS = 300
REDACTED = "[redacted]"
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
# "S/N 4471-AX", "serial no. AB12345", "serial number: 99-1234-X": the marker and a number that has a digit
# (so "serial interface" stays).
# "serial number is 55-7777" too: free-form words between the marker and the number.
SERIAL_PATTERN = (
    r"(?i)\b(?:s/n|sn|serial(?:\s+(?:no\.?|number|#))?)\s*[:#=]?\s*(?:(?:is|was|of)\s+)?"
    r"(?=[A-Z0-9-]{4,})[A-Z0-9][A-Z0-9-]*\d[A-Z0-9-]*\b"
)
# "anna dot berg at plant-north dot example": an address spelled out, with at least one "dot" after "at".
_DOT = r"\s*(?:\bdot\b|\(dot\)|\[dot\])\s*"
SPELLED_EMAIL_PATTERN = (
    rf"(?i)\b[\w.-]+(?:{_DOT}[\w-]+)*\s*(?:\bat\b|\(at\)|\[at\])\s*[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[a-z]{{2,24}}\b"
)
# "Password for the line 3 HMI: Kx9!pump", "PIN = 4711": the secret after a credential word (headings too).
CREDENTIAL_PATTERN = r"(?i)\b(?:password|passwort|passcode|passphrase|kennwort|pwd|pin)\b[^:=\n]{0,60}?[:=]\s*\S+"


class RedactionSettings(BaseModel):
    """Which patterns are replaced by ``[redacted]`` in everything that leaves the site."""

    emails: bool = True
    serial_numbers: bool = True
    credentials: bool = Field(default=True, description="A password or PIN after its label ('Password: x').")
    patterns: list[str] = Field(default_factory=list, description="Extra regular expressions.")
    names: list[str] = Field(default_factory=list, description="Names to remove (whole words, any case).")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"redaction pattern {pattern!r} is not a valid regular expression: {error}") from None
        return patterns


class Redactor:
    """Replaces every match of the configured patterns with ``[redacted]``: emails and serial numbers
    first (so that a name inside an address cannot break it up), then the extra patterns, then names."""

    def __init__(self, settings: RedactionSettings) -> None:
        patterns = list(settings.patterns)
        names = [name.strip() for name in settings.names if name.strip()]
        # Longest names first, so "Anna Berg" is removed whole before "Anna" could match inside it.
        for name in sorted(names, key=len, reverse=True):
            patterns.append(r"(?i)(?<!\w)" + re.escape(name) + r"(?!\w)")
        self._patterns = [re.compile(pattern) for pattern in patterns]
        # A text is scanned once by all these patterns together to see whether any matches (most do not).
        self._any = _union(patterns)
        # The built-in patterns only match around a marker, found far faster by ``in`` than by a regex.
        self._marked = [
            (re.compile(pattern), markers)
            for pattern, markers, wanted in (
                (EMAIL_PATTERN, _EMAIL_MARKERS, settings.emails),
                (SPELLED_EMAIL_PATTERN, _SPELLED_MARKERS, settings.emails),
                (SERIAL_PATTERN, _SERIAL_MARKERS, settings.serial_numbers),
                (CREDENTIAL_PATTERN, _CREDENTIAL_MARKERS, settings.credentials),
            )
            if wanted
        ]
        self._short: BoundedMemo[str, str] = BoundedMemo(_SHORT_CACHE)  # ids, titles and sections repeat

    @property
    def active(self) -> bool:
        return bool(self._patterns or self._marked)

    def __call__(self, text: str) -> str:
        if not self.active or not text:
            return text
        short = len(text) <= _SHORT
        if short:
            known = self._short.get(text)
            if known is not None:
                return known
        redacted = self._sub(text, REDACTED)
        return self._short.put(text, redacted) if short else redacted

    def without_redacted(self, text: str) -> str:
        """``text`` with every span that would be redacted left out: what a site searches its keyword index
        with, so a query for a redacted value does not find (and score) the document that holds it."""
        if not self.active or not text:
            return text
        stripped = self._sub(text, " ")
        # Unchanged unless a span went: the federation's term statistics were counted for the text as sent.
        return text if stripped == unicodedata.normalize("NFKC", text) else stripped

    def _sub(self, text: str, replacement: str) -> str:
        redacted = unicodedata.normalize("NFKC", text)
        lowered = redacted.casefold()
        for pattern, markers in self._marked:
            for marker in markers:
                if marker in lowered:
                    redacted = pattern.sub(replacement, redacted)
                    break
        if self._patterns and (self._any is None or self._any.search(redacted)):
            for pattern in self._patterns:
                redacted = pattern.sub(replacement, redacted)
        return redacted

    def citation(self, citation: Citation) -> Citation:
        """``citation`` with its document id, title and section redacted (the same object when none changes)."""
        doc_id, title, section = self(citation.doc_id), self(citation.title), self(citation.section)
        if doc_id == citation.doc_id and title == citation.title and section == citation.section:
            return citation  # frozen: safe to share, and most citations hold nothing to redact
        return citation.model_copy(update={"doc_id": doc_id, "title": title, "section": section})


_EMAIL_MARKERS = ("@",)
_SPELLED_MARKERS = ("dot",)
_SERIAL_MARKERS = ("s/n", "sn", "serial")  # what SERIAL_PATTERN opens with, case-folded
_CREDENTIAL_MARKERS = ("pass", "kennwort", "pwd", "pin")
_SHORT = 200
_SHORT_CACHE = 10_000
_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


def _scoped_flags(pattern: str) -> str:
    """``(?i)abc`` as ``(?i:abc)``: global flags may only open a whole expression, not one alternative."""
    match = _LEADING_FLAGS.match(pattern)
    return f"(?{match.group(1)}:{pattern[match.end() :]})" if match else pattern


def _union(patterns: list[str]) -> re.Pattern[str] | None:
    """One expression matching where any of ``patterns`` does, or ``None`` when that cannot be built
    safely (a backreference would point at another pattern's group once they are joined)."""
    if not patterns or any(re.search(r"\\\d|\(\?P=", p) for p in patterns):
        return None
    try:
        return re.compile("|".join(f"(?:{_scoped_flags(p)})" for p in patterns))
    except re.error:
        return None


def apply_egress(
    answer: str | None, passages: Sequence[Passage], policy: EgressPolicy, redactor: Redactor
) -> tuple[str | None, list[Passage]]:
    """The answer and passages as they may leave the site under ``policy``, redacted."""
    released: list[Passage] = []
    for passage in passages:
        if policy == "answer":
            text = ""
        elif policy == "snippets":
            text = redactor(passage.text)[:SNIPPET_CHARS]  # redacted first: the cut cannot split a match
        else:
            text = redactor(passage.text)
        released.append(passage.model_copy(update={"text": text, "citation": redactor.citation(passage.citation)}))
    return (redactor(answer) if answer is not None else None), released


def release_evidence(evidence: Sequence[Evidence], policy: EgressPolicy, redactor: Redactor) -> list[Evidence]:
    """Evidence as it may leave under ``policy``: its spans are the site's answer and leave under
    ``snippets`` and ``passages``; under ``answer`` only their citations and scores do. Redacted."""
    return [
        item.model_copy(
            update={
                "text": "" if policy == "answer" else redactor(item.text),
                "citation": redactor.citation(item.citation),
            }
        )
        for item in evidence
    ]
