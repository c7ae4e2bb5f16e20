"""Crash-safe file writes: a file is written beside its target, fsynced, renamed over it and the directory
fsynced, so a reader sees either the old complete file or the new complete file, never a torn one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "TMP_SUFFIX",
    "atomic_write",
    "fsync_dir",
    "make_private_dir",
    "make_private_file",
    "sha256_file",
]

TMP_SUFFIX = ".tmp"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
"""A store holds a site's documents: only its owner may read them (files 0600 in 0700 folders)."""
_READ_BLOCK = 1 << 20


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (POSIX needs the directory itself synced)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path`` atomically and durably."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE), "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` and its missing parents 0700; an existing store folder is made 0700 too."""
    missing = [parent for parent in (directory, *directory.parents) if not parent.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    if os.name == "posix" and directory.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(directory, PRIVATE_DIR_MODE)


def make_private_file(path: Path) -> None:
    """Create ``path`` 0600 if missing, or make it 0600 (SQLite gives its -wal and -shm files this mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if os.name == "posix" and os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()
