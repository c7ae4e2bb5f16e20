"""Decoding of text-like uploads (plain text, Markdown, HTML, CSV, JSON) shared by the loaders.

Every text loader refuses the same things the same way: binary data, bytes that are not UTF-8, and
files that hold only whitespace. Keeping it here means one wording of each error for the site admin.
"""

from __future__ import annotations

import codecs

from connectors.base import SourceData
from connectors.errors import CorruptFileError, EmptyFileError

__all__ = ["decode_text", "require_text"]

# Control characters other than tab, newline, form feed and carriage return. Text files practically
# never contain them, while compressed or image data is full of them.
_CONTROL_CHARACTERS = frozenset(chr(code) for code in range(32)) - {"\t", "\n", "\f", "\r"}
# Share of control characters above which a decoded "text" is really binary data that happened to be
# valid UTF-8 (short random byte runs often are).
_MAX_CONTROL_SHARE = 0.05
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_text(source: SourceData, declared_encoding: str | None = None) -> str:
    """Decode ``source`` as UTF-8 (BOM optional) or BOM-marked UTF-16, refusing binary data.

    ``declared_encoding`` is one the file names itself (an HTML ``<meta charset>``); it is tried only
    when the bytes are not UTF-8, since UTF-8 that decodes cleanly is almost never meant otherwise.
    Raises ``CorruptFileError`` for binary data or bytes that are not valid in the encoding and
    ``EmptyFileError`` when nothing but whitespace is left.
    """
    data = source.data
    if data.startswith(_UTF16_BOMS):
        # NUL bytes are normal in UTF-16, so the binary test runs on the decoded text instead.
        text = _decode(source, data, "utf-16")
    else:
        if b"\0" in data:
            raise CorruptFileError(source.name, "binary data, not text (the file contains NUL bytes)")
        try:
            text = _decode(source, data, "utf-8-sig")
        except CorruptFileError:
            if declared_encoding is None:
                raise
            text = _decode(source, data, declared_encoding)
    _refuse_binary(source, text)
    return require_text(source, text)


def require_text(source: SourceData, text: str) -> str:
    """Return ``text`` unchanged, or raise ``EmptyFileError`` when it is empty or only whitespace."""
    if not text.strip():
        raise EmptyFileError(source.name, "the file holds no text (empty or whitespace only)")
    return text


def _decode(source: SourceData, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError as exc:
        raise CorruptFileError(source.name, f"the file declares an unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        label = {"utf-16": "UTF-16", "utf-8-sig": "UTF-8"}.get(encoding, encoding)
        raise CorruptFileError(
            source.name,
            f"not valid {label}: undecodable byte 0x{exc.object[exc.start]:02x} at byte offset {exc.start}; "
            "convert the file to UTF-8 (for example `iconv -f latin1 -t utf-8`) and load it again",
        ) from exc


def _refuse_binary(source: SourceData, text: str) -> None:
    sample = text[:65536]
    if "\0" in sample:
        raise CorruptFileError(source.name, "binary data, not text (the file contains NUL characters)")
    controls = sum(1 for character in sample if character in _CONTROL_CHARACTERS)
    if sample and controls / len(sample) > _MAX_CONTROL_SHARE:
        raise CorruptFileError(source.name, "binary data, not text (too many control characters)")
