"""Collects the sections of a structured document (Markdown, HTML) under their heading paths."""

from __future__ import annotations

import re

from connectors.base import Section

__all__ = ["HEADING_SEPARATOR", "Outline"]

HEADING_SEPARATOR = " > "
_BLANK_RUNS = re.compile(r"\n{3,}")


class Outline:
    """Accumulates body lines and turns them into one ``Section`` per heading, keyed by heading path.

    A heading path such as ``"Hydraulics > Pumps > Bleeding"`` tells the reader (and the embedder)
    where a passage sits, which a bare "Bleeding" would not. Headings with nothing under them are
    dropped: their text already lives in the path of the sections below them.
    """

    def __init__(self) -> None:
        self._trail: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._sections: list[Section] = []
        self._headings_seen: list[str] = []
        self.first_top_heading = ""

    @property
    def path(self) -> str:
        return HEADING_SEPARATOR.join(text for _, text in self._trail)

    def heading(self, level: int, text: str) -> None:
        """Close the current section and open one under ``text`` at ``level`` (1 = top)."""
        self._flush()
        text = " ".join(text.split())
        if not text:
            return
        if level == 1 and not self.first_top_heading:
            self.first_top_heading = text
        self._headings_seen.append(text)
        while self._trail and self._trail[-1][0] >= level:
            self._trail.pop()
        self._trail.append((level, text))

    def add_line(self, line: str) -> None:
        self._lines.append(line.rstrip())

    def end_block(self) -> None:
        """Mark the end of a paragraph, list or table, so blocks stay apart by one blank line."""
        if self._lines and self._lines[-1]:
            self._lines.append("")

    def sections(self) -> tuple[Section, ...]:
        """The finished sections; a document of headings alone becomes one section of those headings."""
        self._flush()
        if not self._sections and self._headings_seen:
            return (Section(text="\n".join(self._headings_seen)),)
        return tuple(self._sections)

    def _flush(self) -> None:
        body = _BLANK_RUNS.sub("\n\n", "\n".join(self._lines)).strip()
        self._lines = []
        if body:
            self._sections.append(Section(text=body, heading=self.path))
