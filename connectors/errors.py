"""Errors raised by document loaders. Each names the file and the reason, so a batch can report them."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConnectorError",
    "CorruptFileError",
    "EmptyFileError",
    "FileTooLargeError",
    "UnsupportedFormatError",
]


class ConnectorError(ValueError):
    """A file could not be loaded. ``source`` is the file (or stream name); ``reason`` says why."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class UnsupportedFormatError(ConnectorError):
    """No loader handles this file's format."""


class CorruptFileError(ConnectorError):
    """The file claims a supported format but cannot be parsed (includes undecodable text)."""


class EmptyFileError(ConnectorError):
    """The file parsed but holds no text."""


class FileTooLargeError(ConnectorError):
    """The file exceeds the configured size limit."""
