"""Opening the docstore's SQLite file: for writing (WAL, schema created or upgraded) or read-only.

A read-only connection (``mode=ro``) is a WAL reader beside the process that writes: it sees each
committed state, never blocks the writer and never writes the file (no schema, no checkpoint). Its
temporary tables (the query tokenizer of ``TEMP_SCHEMA``) live in the connection's own temp database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from indexes._fsio import make_private_file
from indexes._sqlite_schema import CHUNK_COLUMN_UPGRADES, SCHEMA, SCHEMA_VERSION, TEMP_SCHEMA
from indexes.errors import IndexMismatchError, IndexStoreError

__all__ = ["connect_docstore", "has_chunk_column"]


def connect_docstore(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A configured connection to the docstore at ``path``; for writing it is created if missing."""
    if read_only:
        if not path.is_file():
            raise IndexStoreError(f"docstore {path} does not exist: nothing was ever written to this store")
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file == path or file.exists():
                make_private_file(file)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _configure_reader(conn, path) if read_only else _configure_writer(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_writer(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise IndexStoreError(f"docstore {path} cannot use WAL journaling (got {mode!r})")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
    # Columns added after the first release: a store written by older code gets them, empty.
    present = _chunk_columns(conn)
    for column, declaration in CHUNK_COLUMN_UPGRADES:
        if column not in present:
            conn.execute(f"ALTER TABLE chunks ADD COLUMN {column} {declaration}")
    conn.executescript(TEMP_SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    _check_version(conn, path)


def _configure_reader(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.executescript(TEMP_SCHEMA)
    try:
        _check_version(conn, path)
    except sqlite3.OperationalError as exc:  # no meta table: the writer has not created the schema yet
        raise IndexStoreError(f"docstore {path} holds no schema yet ({exc}); open it for writing first") from exc


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = int(row[0]) if row is not None else SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise IndexMismatchError(
            f"docstore {path} has schema version {version}, this code reads up to {SCHEMA_VERSION}; upgrade rag-fed"
        )


def _chunk_columns(conn: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in conn.execute("PRAGMA table_info(chunks)")}


def has_chunk_column(conn: sqlite3.Connection, column: str) -> bool:
    """Whether the chunks table has ``column`` (a read-only store written by older code may lack it)."""
    return column in _chunk_columns(conn)
