"""The docstore's self-check (``SQLiteDocStore.verify``): SQLite's own checks, and chunks cross-checked
with their FTS5 rows and, when the dimension is known, with the size of their vectors."""

from __future__ import annotations

import sqlite3

__all__ = ["docstore_problems"]


def docstore_problems(conn: sqlite3.Connection, dim: int | None, *, read_only: bool) -> list[str]:
    """Every problem found, one line each; empty when the store is sound."""
    problems: list[str] = []
    checks = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    if checks != ["ok"]:
        problems.extend(f"sqlite quick_check: {line}" for line in checks[:10])
    try:
        if not read_only:  # FTS5 runs its check as a write command
            conn.execute("INSERT INTO chunk_fts(chunk_fts) VALUES ('integrity-check')")
    except sqlite3.DatabaseError as exc:
        problems.append(f"keyword index integrity-check failed: {exc}")
    unindexed = _count(conn, "SELECT count(*) FROM chunks WHERE chunk_id NOT IN (SELECT rowid FROM chunk_fts)")
    stray = _count(conn, "SELECT count(*) FROM chunk_fts WHERE rowid NOT IN (SELECT chunk_id FROM chunks)")
    if unindexed or stray:
        problems.append(f"keyword index: {unindexed} chunks missing from it, {stray} stray rows")
    if dim is not None:
        bad = _count(conn, "SELECT count(*) FROM chunks WHERE length(vector) != ?", 4 * dim)
        if bad:
            problems.append(f"{bad} chunk vectors are not {dim} float32 values")
    return problems


def _count(conn: sqlite3.Connection, sql: str, *args: object) -> int:
    return int(conn.execute(sql, args).fetchone()[0])
