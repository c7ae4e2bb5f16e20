"""Errors raised by the vector index and the docstore."""

from __future__ import annotations

__all__ = ["IndexCorruptError", "IndexMismatchError", "IndexStoreError", "StoreLockedError", "UnknownRecordError"]


class IndexStoreError(RuntimeError):
    """Base of index and docstore errors."""


class IndexCorruptError(IndexStoreError):
    """A stored file fails its checksum or cannot be parsed; it is never used silently."""


class IndexMismatchError(IndexStoreError):
    """A stored index does not match what the caller expects (dimension, embedder version, counts)."""


class StoreLockedError(IndexStoreError):
    """Another process holds the store's writer lock; ``holder`` is its pid as it wrote it (or a note)."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class UnknownRecordError(IndexStoreError, KeyError):
    """No document or chunk with that id is stored."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else "unknown record"
