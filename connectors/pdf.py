"""Loader for PDF manuals (.pdf) with pypdf: one section per page, so citations can name the page.

The title is the metadata title unless that is a tool's artefact (``_is_artefact``): then the first
line of the first page that reads like a title, else none (the file name is the document's id, and an id
embedded or indexed as text would match queries it has nothing to do with). The metadata title is kept as the
``pdf_title`` metadata field either way.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

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
_TITLE_LOOKAHEAD = 6  # a cover page may open with a logo line or a date before its title
# Titles that authoring tools write when the author gave none: "Untitled-1", "Document1", "Slide 1".
_PLACEHOLDER = re.compile(
    r"^(?:untitled|no title|title|document|doc|new document|presentation|slide|book|sheet|page|draft"
    r"|unknown|none|null)\W*\d*$",
    re.IGNORECASE,
)
# "Microsoft Word - report.doc", "PowerPoint - deck": the application's name before the file's.
_APPLICATION_PREFIX = re.compile(r"^(?:microsoft\s+)?(?:word|excel|powerpoint|publisher|visio)\s+-\s", re.IGNORECASE)
# A file name anywhere in the title: documents, desktop publishing, drawings, images, TeX, web pages.
_FILE_NAME = re.compile(
    r"[\w~$-]\.(?:docx?|dotx?|rtf|odt|wpd|wps|pdf|ps|eps|ai|indd?|qxd|qxp|p65|pm[56d]|fm|mif|chp|cdr|pub"
    r"|txt|tex|dvi|xlsx?|pptx?|vsd|dwg|dxf|tiff?|jpe?g|png|bmp|gif|html?|xml|sgml?)(?![\w])",
    re.IGNORECASE,
)
_MIN_TITLE_LETTERS = 3


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
        metadata_title = _metadata_title(reader)
        metadata = {"pages": str(len(reader.pages))}
        if metadata_title:
            metadata["pdf_title"] = metadata_title
        usable = metadata_title and not _is_artefact(metadata_title, _tool_names(reader))
        yield Document(
            source=source.name,
            title=metadata_title if usable else _first_title_line(sections[0].text),
            kind="manual",
            sections=sections,
            metadata=metadata,
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


def _first_title_line(page_text: str) -> str:
    """The first of the page's opening lines that reads like a heading (page numbers skipped), or ""."""
    lines = [line.strip() for line in page_text.split("\n") if line.strip()]
    for line in lines[:_TITLE_LOOKAHEAD]:
        if not _PAGE_NUMBER.match(line) and _reads_like_heading(line) and not _is_artefact(line, ()):
            return line
    return ""


def _is_artefact(title: str, tool_names: tuple[str, ...]) -> bool:
    """Whether a metadata title was written by a tool rather than by the author.

    Artefacts: fewer than three letters; a placeholder ("Untitled", "Document1"); an application's name
    before a file's ("Microsoft Word - ..."); a file name anywhere in it ("2062covr.chp:Corel VENTURA",
    "manual_v3.pdf"); a file stem (one word joined by underscores); or (part of) the name of the tool
    that made the file, as its Creator or Producer entry gives it.
    """
    letters = sum(character.isalpha() for character in title)
    if letters < _MIN_TITLE_LETTERS or _PLACEHOLDER.match(title.strip()) or _APPLICATION_PREFIX.match(title):
        return True
    if _FILE_NAME.search(title) or (" " not in title.strip() and "_" in title):
        return True
    folded = " ".join(title.casefold().split())
    return any(folded in tool.casefold() for tool in tool_names)


def _tool_names(reader: PdfReader) -> tuple[str, ...]:
    try:
        metadata = reader.metadata
        names = (metadata.creator, metadata.producer) if metadata is not None else ()
    except Exception:
        return ()
    return tuple(" ".join(str(name).split()) for name in names if name)


def _metadata_title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:
        # A damaged info dictionary should not cost the text of an otherwise readable PDF.
        return ""
    return " ".join(str(title).split()) if title else ""
