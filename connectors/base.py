"""What a loader produces (``Document`` of ``Section``s) and the ``Connector`` contract every loader keeps."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from connectors.errors import FileTooLargeError

__all__ = ["Connector", "Document", "DocumentKind", "LineRange", "Section", "SourceData"]

DocumentKind = Literal["manual", "work_order"]


@dataclass(frozen=True)
class SourceData:
    """The bytes of one file or upload and the name it came under (a path or an upload's filename)."""

    name: str
    data: bytes

    @classmethod
    def from_path(cls, path: Path, max_bytes: int) -> SourceData:
        """Read ``path``, refusing files over ``max_bytes`` before reading them."""
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(path, f"file is {size} bytes, over the limit of {max_bytes} bytes")
        return cls(name=str(path), data=path.read_bytes())

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


LineRange = tuple[int, int]
"""First and last line (1-based, inclusive) of the source file."""


@dataclass(frozen=True)
class Section:
    """A run of text under one heading (manuals) or one page (PDF), the unit a citation points at.

    ``lines`` is where ``text`` lies in the file when the loader knows it (plain text, whose section
    text is those lines as they are, so chunks can be placed too).
    """

    text: str
    heading: str = ""
    page: int | None = None
    lines: LineRange | None = None


@dataclass(frozen=True)
class Document:
    """One document as a loader sees it: a manual (many sections) or a single work order.

    ``key`` tells documents from one source apart (a work order's id or row); it is empty for a file
    that is a single document. ``metadata`` keeps string-valued facts such as asset, date, order type.
    """

    source: str
    title: str
    kind: DocumentKind
    sections: tuple[Section, ...]
    key: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)

    @property
    def content_hash(self) -> str:
        """Hash of everything that would be indexed, so unchanged documents can be skipped."""
        digest = hashlib.sha256()
        for part in (self.title, self.kind, self.key):
            digest.update(part.encode() + b"\0")
        for name in sorted(self.metadata):
            digest.update(f"{name}={self.metadata[name]}".encode() + b"\0")
        for section in self.sections:
            digest.update(f"{section.heading}\0{section.page}\0{section.text}".encode() + b"\0")
            if section.lines is not None:  # moved lines must be re-cited; hashes without them stay as they were
                digest.update(f"lines {section.lines[0]}-{section.lines[1]}".encode() + b"\0")
        return digest.hexdigest()


@runtime_checkable
class Connector(Protocol):
    """Turns the bytes of one file into documents. Raises a ``ConnectorError`` naming file and reason."""

    suffixes: tuple[str, ...]

    def load(self, source: SourceData) -> Iterator[Document]: ...
