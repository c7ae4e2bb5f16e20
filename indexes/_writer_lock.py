"""The writer lock of a site store: an exclusive ``flock`` on ``writer.lock`` in the store directory.

The kernel drops a ``flock`` when its holder exits, even on SIGKILL, so a crashed writer never leaves a
stale lock behind. The holder writes its pid into the file only so the next caller's error can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from indexes._fsio import PRIVATE_FILE_MODE
from indexes.errors import StoreLockedError

__all__ = ["LOCK_FILE_NAME", "WriterLock", "writer_holder"]

LOCK_FILE_NAME = "writer.lock"


class WriterLock:
    """Held from ``acquire`` until ``release``; one per store directory across all processes."""

    def __init__(self, path: Path, fd: int) -> None:
        self._path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> WriterLock:
        path = directory / LOCK_FILE_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:  # a lock file made before stores were private
                os.fchmod(fd, PRIVATE_FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreLockedError(
                f"site store {directory} is already open for writing by process {holder}; close the store"
                " in that process (or stop it) before opening it here",
                holder,
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown (pid not written yet)"


def writer_holder(directory: Path) -> str | None:
    """Who holds the writer lock of the store in ``directory`` now (its pid as written), ``None`` when
    nobody does. A hint, for refusing early and clearly before slow work: it may change right after, and
    only ``WriterLock.acquire`` decides."""
    if not directory.is_dir():
        return None
    try:
        WriterLock.acquire(directory).release()
    except StoreLockedError as locked:
        return locked.holder
    return None
