"""Crash-safe replacement of small files (keys, pointers, catalogues, ledgers).

The text goes to a uniquely named file beside the target, is fsynced, renamed over the target, and the
directory is fsynced: a reader, or a process restarted after a crash, sees the old complete file or the
new complete file, never a torn one. A unique temporary name lets two writers race without clobbering
each other's half-written file (the later rename wins whole).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["replace_text"]


def replace_text(path: Path, text: str, *, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically and durably. ``mode`` (e.g. ``0o600`` for a secret) is
    set on the temporary file before anything is written, so the content is never readable by others."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
