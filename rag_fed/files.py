"""Crash-safe replacement of small files (keys, pointers, catalogues, ledgers).

The text goes to a uniquely named file beside the target, is fsynced, renamed over the target, and the
directory is fsynced: a reader, or a process restarted after a crash, sees the old complete file or the
new complete file, never a torn one. A unique temporary name lets two writers race without clobbering
each other's half-written file (the later rename wins whole). A file made once (``create_text_once``, the
secrets of ``load_or_create_secret``) is linked into place instead, so of two racing writers the first wins.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from rag_fed.errors import ConfigError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_text_once",
    "load_or_create_secret",
    "private_dir",
    "private_file",
    "replace_text",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def replace_text(path: Path, text: str, *, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically and durably. ``mode`` (e.g. ``0o600`` for a secret) is
    set on the temporary file before anything is written, so the content is never readable by others."""
    tmp_name = _write_temporary(path, text, mode, encoding)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _sync_dir(path.parent)


def create_text_once(path: Path, text: str, *, mode: int | None = None, encoding: str = "utf-8") -> bool:
    """Create ``path`` with ``text`` unless it exists; ``True`` if this call created it. Like
    :func:`replace_text` the file appears whole or not at all, and of two racing writers exactly one wins
    (a hard link, unlike a rename, fails when the target exists), so both then read the same content."""
    tmp_name = _write_temporary(path, text, mode, encoding)
    try:
        os.link(tmp_name, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    _sync_dir(path.parent)
    return True


def _write_temporary(path: Path, text: str, mode: int | None, encoding: str) -> str:
    """A uniquely named, fsynced file beside ``path`` holding ``text`` (its name; removed on failure)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def _sync_dir(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only; an existing one is made so."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if os.name == "posix" and (path.stat().st_mode & 0o777) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 (created empty if missing) before anything writes to it
    (SQLite gives its -wal and -shm files the database's mode). A missing parent is made 0700; an existing
    one is left as it is (it may be shared): the owner's folders are made private by :func:`private_dir`."""
    if not path.parent.exists():
        private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if os.name == "posix" and (os.fstat(fd).st_mode & 0o777) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return path


def load_or_create_secret(path: Path, size: int, *, what: str, when_damaged: str) -> bytes:
    """The ``size``-byte secret kept as one line of hex in ``path`` (0600; a missing parent folder is made
    0700), created at random on first use with :func:`create_text_once`, so two processes starting at
    once agree on one secret. ``what`` names it and ``when_damaged`` says what to do in the
    :class:`~rag_fed.errors.ConfigError` a damaged file raises."""
    try:
        if not path.parent.exists():
            private_dir(path.parent)
        if not path.exists():
            create_text_once(path, secrets.token_hex(size) + "\n", mode=PRIVATE_FILE_MODE, encoding="ascii")
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read or create the {what} {path}: {error}") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != size:
        raise ConfigError(f"{what} {path} is damaged (expected {2 * size} hex digits); {when_damaged}")
    return secret
