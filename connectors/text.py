"""Loader for plain-text manuals and logs (.txt, .text, .log), split at obvious headings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from connectors._textio import decode_text, file_stem
from connectors.base import Document, Section, SourceData

__all__ = ["TextConnector"]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# "1. Scope", "2.3 Hydraulic system", "IV. Safety", "Chapter 4 Maintenance", "Section 2: Checks".
_NUMBERED_HEADING = re.compile(
    r"^(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|(?:chapter|section|part)\s+\d+[.:]?)\s+\S",
    re.IGNORECASE,
)
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12
_MAX_TITLE_CHARS = 120
# One heading may be a caps warning that happens to stand alone; two or more make the structure obvious.
_MIN_HEADINGS = 2


@dataclass
class TextConnector:
    """Reads UTF-8 (or BOM-marked UTF-16) text; one section, or one per heading when headings are obvious.

    A heading is a paragraph of one short line that is written in capitals ("HYDRAULIC SYSTEM") or
    numbered ("2.3 Hydraulic system"). Anything less regular is kept as a single section, since a wrong
    split would cut a procedure in half.
    """

    suffixes: tuple[str, ...] = (".txt", ".text", ".log")

    def load(self, source: SourceData) -> Iterator[Document]:
        text = decode_text(source).replace("\r\n", "\n").replace("\r", "\n")
        paragraphs = [_clean(block) for block in _PARAGRAPH_BREAK.split(text)]
        paragraphs = [paragraph for paragraph in paragraphs if paragraph]
        yield Document(
            source=source.name,
            title=_title(paragraphs, source.name),
            kind="manual",
            sections=_sections(paragraphs),
        )


def _is_heading(paragraph: str) -> bool:
    """Whether a paragraph looks like a heading: one short line, in capitals or numbered."""
    if "\n" in paragraph or len(paragraph) > _MAX_HEADING_CHARS:
        return False
    if len(paragraph.split()) > _MAX_HEADING_WORDS or paragraph[-1] in ".,;!?":
        return False
    letters = [character for character in paragraph if character.isalpha()]
    if len(letters) >= 3 and all(letter.isupper() for letter in letters):
        return True
    return bool(_NUMBERED_HEADING.match(paragraph)) and any(letter.isupper() for letter in letters)


def _sections(paragraphs: list[str]) -> tuple[Section, ...]:
    heading_count = sum(1 for paragraph in paragraphs if _is_heading(paragraph))
    if heading_count < _MIN_HEADINGS:
        return (Section(text="\n\n".join(paragraphs)),)
    sections: list[Section] = []
    heading = ""
    body: list[str] = []
    for paragraph in paragraphs:
        if _is_heading(paragraph):
            if body:
                sections.append(Section(text="\n\n".join(body), heading=heading))
            heading, body = paragraph, []
        else:
            body.append(paragraph)
    if body:
        sections.append(Section(text="\n\n".join(body), heading=heading))
    # Headings with no body under them add nothing to search; a file of headings alone is still text.
    return tuple(sections) or (Section(text="\n\n".join(paragraphs)),)


def _title(paragraphs: list[str], name: str) -> str:
    first_line = paragraphs[0].split("\n", 1)[0].strip() if paragraphs else ""
    if not first_line:
        return file_stem(name)
    return first_line if len(first_line) <= _MAX_TITLE_CHARS else first_line[:_MAX_TITLE_CHARS] + "…"


def _clean(block: str) -> str:
    lines = [line.rstrip() for line in block.split("\n")]
    return "\n".join(lines).strip("\n").strip()
