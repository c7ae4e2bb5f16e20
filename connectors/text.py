"""Loader for plain-text manuals and logs (.txt, .text, .log), split at obvious headings, lines kept.

Each section's text is its lines of the file as they are (trailing spaces dropped), so a section, and
every chunk cut from it, knows the lines of the file it came from (``Section.lines``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from connectors._textio import decode_text
from connectors.base import Document, Section, SourceData

__all__ = ["TextConnector"]

# "1. Scope", "2.3 Hydraulic system", "IV. Safety", "Chapter 4 Maintenance", "Section 2: Checks".
_NUMBERED_HEADING = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|(?:chapter|section|part)\s+\d+[.:]?)\s+\S",
    re.IGNORECASE,
)
# A setext-style underline: one character repeated, nothing else ("-----", "=====").
_UNDERLINE = re.compile(r"^([-=~*_#+])\1{2,}$")
_TABLE_GAP = re.compile(r"\S {3,}\S")  # columns of a table header, not a heading
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12
_MAX_TITLE_CHARS = 120
# One heading may be a caps warning that happens to stand alone; two or more make the structure obvious.
# An underlined heading is never an accident, so one is enough.
_MIN_HEADINGS = 2


@dataclass
class TextConnector:
    """Reads UTF-8 (or BOM-marked UTF-16) text; one section, or one per heading when headings are obvious.

    A heading is a short line underlined with a repeated character ("PUMP DATA" over "---------"), or
    a line standing alone between blank lines that is written in capitals ("HYDRAULIC SYSTEM") or
    numbered ("2.3 Hydraulic system"). Anything less regular is kept as a single section, since a wrong
    split would cut a procedure in half.
    """

    suffixes: tuple[str, ...] = (".txt", ".text", ".log")

    def load(self, source: SourceData) -> Iterator[Document]:
        text = decode_text(source).replace("\r\n", "\n").replace("\r", "\n")
        lines = [line.rstrip() for line in text.split("\n")]
        yield Document(
            source=source.name,
            title=_title(lines),
            kind="manual",
            sections=_sections(lines),
        )


def _reads_like_heading(line: str) -> bool:
    if not line or len(line) > _MAX_HEADING_CHARS or len(line.split()) > _MAX_HEADING_WORDS:
        return False
    return line[-1] not in ".,;!?" and _TABLE_GAP.search(line) is None


def _is_underlined(lines: list[str], index: int) -> bool:
    """Whether line ``index`` is a heading with an underline below it about as long as itself."""
    if index + 1 >= len(lines):
        return False
    heading, underline = lines[index].strip(), lines[index + 1].strip()
    if not _UNDERLINE.match(underline) or not _reads_like_heading(heading):
        return False
    return len(underline) >= len(heading) / 2 and any(character.isalpha() for character in heading)


def _stands_alone(lines: list[str], index: int) -> bool:
    """Whether line ``index`` is a one-line paragraph in capitals ("ENGINE") or numbered ("2.1 Bleeding")."""
    line = lines[index].strip()
    before = index == 0 or not lines[index - 1].strip()
    after = index + 1 == len(lines) or not lines[index + 1].strip()
    if not (before and after and _reads_like_heading(line)):
        return False
    letters = [character for character in line if character.isalpha()]
    if len(letters) >= 3 and all(letter.isupper() for letter in letters):
        return True
    return bool(_NUMBERED_HEADING.match(line)) and any(letter.isupper() for letter in letters)


def _headings(lines: list[str]) -> dict[int, int]:
    """Heading line index -> how many lines it takes (2 with its underline)."""
    found: dict[int, int] = {}
    index = 0
    while index < len(lines):
        if _is_underlined(lines, index):
            found[index] = 2
            index += 2
            continue
        if _stands_alone(lines, index):
            found[index] = 1
        index += 1
    return found


def _section(lines: list[str], start: int, end: int, heading: str) -> Section | None:
    """Lines ``start:end`` (0-based) as a section, blank lines at either end left out; ``None`` if blank."""
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    if start == end:
        return None
    return Section(text="\n".join(lines[start:end]), heading=heading, lines=(start + 1, end))


def _sections(lines: list[str]) -> tuple[Section, ...]:
    headings = _headings(lines)
    whole = _section(lines, 0, len(lines), "")
    assert whole is not None  # decode_text refuses a file without text
    underlined = any(size == 2 for size in headings.values())
    if len(headings) < _MIN_HEADINGS and not underlined:
        return (whole,)
    sections: list[Section] = []
    starts = sorted(headings)
    first = _section(lines, 0, starts[0], "")
    if first is not None:
        sections.append(first)
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        # Headings with no body under them add nothing to search (their text is in no chunk either).
        body = _section(lines, start + headings[start], end, lines[start].strip())
        if body is not None:
            sections.append(body)
    # A file of headings alone is still text.
    return tuple(sections) or (whole,)


def _title(lines: list[str]) -> str:
    first_line = next((line.strip() for line in lines if line.strip()), "")
    return first_line if len(first_line) <= _MAX_TITLE_CHARS else first_line[:_MAX_TITLE_CHARS] + "…"
