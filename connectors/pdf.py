"""Loader for PDF manuals (.pdf) with pypdf: one section per page, so citations can name the page."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from connectors._textio import file_stem
from connectors.base import Document, Section, SourceData
from connectors.errors import CorruptFileError, EmptyFileError

__all__ = ["PdfConnector"]

# The PDF header may follow a little junk (some mail gateways prepend bytes); readers look this far.
_HEADER_WINDOW = 1024
_BLANK_RUNS = re.compile(r"\n{3,}")
# Running page furniture that is not a heading: "12", "- 12 -", "Page 3", "3 of 10", "Page 3 of 10".
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–\s]*\d+[-–\s]*(?:(?:of|/)\s*\d+)?$", re.IGNORECASE)
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12
_HEADING_LOOKAHEAD = 3


@dataclass
class PdfConnector:
    """Extracts the text layer of each page; pages without text are skipped, scanned PDFs refused."""

    suffixes: tuple[str, ...] = (".pdf",)

    def load(self, source: SourceData) -> Iterator[Document]:
        if b"%PDF-" not in source.data[:_HEADER_WINDOW]:
            raise CorruptFileError(source.name, "not a PDF: the file does not start with %PDF")
        reader = _open(source)
        sections = _pages(source, reader)
        if not sections:
            raise EmptyFileError(
                source.name,
                "the PDF has no extractable text (probably scanned images); OCR is not supported, "
                "so run OCR first (for example `ocrmypdf in.pdf out.pdf`) and load the result",
            )
        yield Document(
            source=source.name,
            title=_metadata_title(reader) or sections[0].heading or file_stem(source.name),
            kind="manual",
            sections=sections,
            metadata={"pages": str(len(reader.pages))},
        )


def _open(source: SourceData) -> PdfReader:
    # pypdf documents that broken files can raise more than its own errors, so every exception from
    # parsing is turned into a CorruptFileError that names it; a raw library error must not escape.
    try:
        reader = PdfReader(io.BytesIO(source.data), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise CorruptFileError(
                source.name,
                "the PDF is encrypted with a password; remove the password "
                "(for example `qpdf --decrypt --password=... in.pdf out.pdf`) and load it again",
            )
        _ = len(reader.pages)
    except CorruptFileError:
        raise
    except DependencyError as exc:
        raise CorruptFileError(source.name, f"the PDF is encrypted and pypdf cannot decrypt it here: {exc}") from exc
    except Exception as exc:
        raise CorruptFileError(source.name, _describe(exc)) from exc
    return reader


def _pages(source: SourceData, reader: PdfReader) -> tuple[Section, ...]:
    sections: list[Section] = []
    for number in range(1, len(reader.pages) + 1):
        try:
            raw = reader.pages[number - 1].extract_text()
        except Exception as exc:
            raise CorruptFileError(source.name, f"page {number}: {_describe(exc)}") from exc
        text = _clean(raw)
        if text:
            sections.append(Section(text=text, heading=_guess_heading(text), page=number))
    return tuple(sections)


def _describe(exc: Exception) -> str:
    detail = str(exc).strip() or "no detail"
    return f"damaged or truncated PDF, pypdf could not read it ({type(exc).__name__}: {detail})"


def _clean(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _guess_heading(page_text: str) -> str:
    """The first of the page's opening lines that reads like a heading, or "" when none does.

    Page numbers are skipped. A heading is short, starts with a capital or a section number, and does
    not end like a sentence; body text that starts at the top of a page yields no heading.
    """
    lines = [line.strip() for line in page_text.split("\n") if line.strip()]
    for line in lines[:_HEADING_LOOKAHEAD]:
        if _PAGE_NUMBER.match(line):
            continue
        if _reads_like_heading(line):
            return line
        return ""
    return ""


def _reads_like_heading(line: str) -> bool:
    if len(line) > _MAX_HEADING_CHARS or len(line.split()) > _MAX_HEADING_WORDS:
        return False
    if line[-1] in ".,;:" or sum(character.isalpha() for character in line) < 2:
        return False
    return line[0].isupper() or line[0].isdigit()


def _metadata_title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:
        # A damaged info dictionary should not cost the text of an otherwise readable PDF.
        return ""
    return " ".join(str(title).split()) if title else ""
