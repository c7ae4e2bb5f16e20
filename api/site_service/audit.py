"""The site's audit log of its admin API: every call under ``/v1/admin/`` (and every refused one) is one row
of ``<site>/admin-audit.db`` (0600): when, which key id, method, path, HTTP status, and what it did.

Recorded by a plain ASGI middleware, so a call refused before any route runs (a bad key: 401; an upload
over the limit: 413) is recorded too. The key id a refused caller sent is stored as claimed (it is not
secret); ``authenticated`` says whether the key was valid. ``GET /v1/admin/audit`` reads it back (routes_audit.py).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.apikeys import key_id_of
from rag_fed.files import private_file

__all__ = ["ADMIN_AUDIT_FILE", "AuditAdminCalls", "SiteAuditEntry", "SiteAuditLog"]

ADMIN_AUDIT_FILE = "admin-audit.db"
_PREFIX = "/v1/admin/"
_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    key_id TEXT,
    authenticated INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""


class SiteAuditEntry(BaseModel):
    at: float
    key_id: str | None
    authenticated: bool
    method: str
    path: str
    status: int
    detail: str


class SiteAuditLog:
    """Append-only; each call opens its own connection, so one instance is thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = private_file(path)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def record(self, entry: SiteAuditEntry) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO admin_audit (at, key_id, authenticated, method, path, status, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.key_id,
                    int(entry.authenticated),
                    entry.method,
                    entry.path,
                    entry.status,
                    entry.detail,
                ),
            )

    def newest(self, limit: int = 100) -> list[SiteAuditEntry]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT at, key_id, authenticated, method, path, status, detail FROM admin_audit "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            SiteAuditEntry(
                at=r[0], key_id=r[1], authenticated=bool(r[2]), method=r[3], path=r[4], status=r[5], detail=r[6]
            )
            for r in rows
        ]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=10)) as db, db:
            yield db


class AuditAdminCalls:
    """Records every HTTP call under ``/v1/admin/`` once its response status is known. A route adds what it
    did with ``request.state.audit_detail``; the admin dependency sets ``request.state.admin_key_id``."""

    def __init__(self, app: ASGIApp, log: SiteAuditLog) -> None:
        self._app, self._log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(_PREFIX):
            await self._app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500  # what the client sees if the app fails before it starts a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_noting_status)
        finally:
            entry = SiteAuditEntry(
                at=time.time(),
                key_id=state.get("admin_key_id") or _claimed_key_id(scope),
                authenticated="admin_key_id" in state,
                method=str(scope["method"]),
                path=str(scope["path"])[:2000],
                status=status,
                detail=str(state.get("audit_detail", ""))[:2000],
            )
            try:
                await run_in_threadpool(self._log.record, entry)
            except sqlite3.Error as error:  # the call itself is done; say loudly that it went unrecorded
                _log.error("admin call %s %s (status %d) not audited: %s", entry.method, entry.path, status, error)


def _claimed_key_id(scope: Scope) -> str | None:
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, key = header.partition(" ")
    return key_id_of(key.strip()) if scheme.lower() == "bearer" else None
