"""Cuts a ``Document`` into overlapping chunks for embedding, never across two sections."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.base import Document, LineRange, Section

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

__all__ = ["Chunk", "chunk_document"]

DEFAULT_CHUNK_CHARS = 800
DEFAULT_OVERLAP_CHARS = 120


@dataclass(frozen=True)
class Chunk:
    """A passage to embed: its text, its position in the document, and the section and page it cites.

    ``lines`` are the lines of the source file the chunk came from, when its section knows its own.
    """

    text: str
    ordinal: int
    section: str
    page: int | None
    lines: LineRange | None = None


def chunk_document(
    document: Document,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
) -> list[Chunk]:
    """Split each section of ``document`` into chunks of at most ``chunk_chars`` characters.

    Consecutive chunks of a section share up to ``overlap_chars`` characters, so a sentence cut at a
    boundary is still whole in one of them. A chunk never spans two sections, because a chunk must
    cite one heading and one page. Ordinals run 0..n-1 over the whole document.
    """
    if chunk_chars <= 0:
        raise ValueError(f"chunk_chars must be positive, got {chunk_chars}")
    if not 0 <= overlap_chars < chunk_chars:
        raise ValueError(
            f"overlap_chars must be at least 0 and smaller than chunk_chars; "
            f"got overlap_chars={overlap_chars}, chunk_chars={chunk_chars}"
        )
    splitter = _splitter(chunk_chars, overlap_chars)
    chunks: list[Chunk] = []
    for section in document.sections:
        text = section.text.strip()
        if not text:
            continue
        # A section that fits is kept whole rather than handed to the splitter, which could re-space it.
        pieces = [text] if len(text) <= chunk_chars else splitter.split_text(text)
        cursor = 0
        for piece in pieces:
            if piece.strip():
                lines, cursor = _lines_of(section, piece, cursor)
                chunk = Chunk(text=piece, ordinal=len(chunks), section=section.heading, page=section.page, lines=lines)
                chunks.append(chunk)
    return chunks


def _lines_of(section: Section, piece: str, cursor: int) -> tuple[LineRange | None, int]:
    """The file lines of ``piece``, found in the section's text at or after ``cursor`` (pieces come in
    order and may overlap), and where to look for the next one. The section's range when not found."""
    if section.lines is None:
        return None, cursor
    found = section.text.find(piece, cursor)
    if found < 0:
        return section.lines, cursor
    first = section.lines[0] + section.text.count("\n", 0, found)
    last = first + piece.count("\n")
    return (first, min(last, section.lines[1])), found + 1


@functools.lru_cache(maxsize=8)
def _splitter(chunk_chars: int, overlap_chars: int) -> RecursiveCharacterTextSplitter:
    # Imported here: langchain pulls in langchain-core, which `import connectors` should not pay for.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_chars,
        chunk_overlap=overlap_chars,
        length_function=len,
        strip_whitespace=True,
    )
