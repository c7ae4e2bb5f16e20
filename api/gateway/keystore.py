"""The gateway's API keys (roles, hashed) and its audit log, in one SQLite file.

Only each key's SHA-256 is stored; the key is shown once, when it is created. The audit log records a
question as its HMAC-SHA256 under the gateway's own secret (``audit.key`` beside the database, 0600), so
nobody who reads the log can confirm a guessed question without that file. Roles:

- ``engineer``: asks questions (chat, query);
- ``evaluator``: asks questions too, for benchmarks (their traffic is told apart in the audit log);
- ``operator``: sees the sites, their health and circuit state;
- ``site-admin``: bound to one site; sees that site's status at the gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from api.apikeys import IssuedKey, issue_key, key_id_of, keys_match
from rag_fed.crypto.ids import validate_node_id
from rag_fed.errors import AuthError, InputError, NotFoundError
from rag_fed.files import load_or_create_secret, private_file
from rag_fed.observability import current_request_id

__all__ = ["AUDIT_KEY_FILE", "AuditEntry", "Caller", "KeyInfo", "KeyStore", "Role"]

AUDIT_KEY_FILE = "audit.key"
"""Beside the database: the secret of the audit log's keyed question hashes (64 hex digits, 0600)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL,
    role TEXT NOT NULL,
    site_id TEXT,
    label TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    key_id TEXT,
    role TEXT,
    endpoint TEXT NOT NULL,
    outcome TEXT NOT NULL,
    question TEXT,
    sites TEXT NOT NULL DEFAULT '',
    request_id TEXT
);
"""


class Role(StrEnum):
    ENGINEER = "engineer"
    SITE_ADMIN = "site-admin"
    OPERATOR = "operator"
    EVALUATOR = "evaluator"


@dataclass(frozen=True)
class Caller:
    """An authenticated API key: who is calling, with which role (and site, for a site admin)."""

    key_id: str
    role: Role
    site_id: str | None = None


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    role: Role
    site_id: str | None
    label: str
    created_at: float
    revoked_at: float | None


class AuditEntry(BaseModel):
    """One request as the audit log holds it (and ``GET /v1/audit`` returns it); ``question`` is a keyed
    hash (``hmac-sha256:...``) unless the gateway keeps text."""

    model_config = ConfigDict(frozen=True)

    at: float
    key_id: str | None
    role: str | None
    endpoint: str
    outcome: str
    question: str | None
    sites: list[str]
    request_id: str | None = None
    """The request's ``X-Request-Id``: the id the sites' logs name for the same question."""


class KeyStore:
    """API keys and audit log. Each call opens its own connection, so one instance is thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = path
        private_file(path)  # 0600: key hashes and the audit log
        with self._connect() as db:
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(audit_log)")}
            if "request_id" not in columns:  # an audit log written before request ids
                db.execute("ALTER TABLE audit_log ADD COLUMN request_id TEXT")
        self._audit_key = _audit_key(path.with_name(AUDIT_KEY_FILE))

    def create(self, role: Role | str, site_id: str | None = None, label: str = "") -> IssuedKey:
        """A new key for ``role``; a ``site-admin`` key must name its site, no other may."""
        try:
            role = Role(role)
        except ValueError:
            raise InputError(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
        if role is Role.SITE_ADMIN and not site_id:
            raise InputError("a site-admin key is bound to one site: pass --site SITE_ID")
        if role is not Role.SITE_ADMIN and site_id:
            raise InputError(f"only site-admin keys are bound to a site, not {role.value} keys")
        if site_id:
            validate_node_id(site_id, what="site id")
        issued = issue_key()
        with self._connect() as db:
            db.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (issued.key_id, issued.key_hash, role.value, site_id, label, time.time()),
            )
        return issued

    def authenticate(self, key: str) -> Caller:
        """The caller holding ``key``; ``AuthError`` if it is malformed, unknown or revoked."""
        key_id = key_id_of(key)
        row = None
        if key_id is not None:
            with self._connect() as db:
                row = db.execute(
                    "SELECT key_sha256, role, site_id, revoked_at FROM api_keys WHERE key_id = ?", (key_id,)
                ).fetchone()
        # Compare even when nothing was found, so an unknown id takes as long as a wrong secret.
        stored = row[0] if row is not None else "0" * 64
        if key_id is None or row is None or not keys_match(key, stored) or row[3] is not None:
            raise AuthError("invalid or revoked API key")
        return Caller(key_id=key_id, role=Role(row[1]), site_id=row[2])

    def revoke(self, key_id: str) -> None:
        with self._connect() as db:
            changed = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (time.time(), key_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"no active API key {key_id!r}")

    def site_admin_hashes(self, site_id: str) -> list[tuple[str, str]]:
        """``(key id, sha256)`` of every active site-admin key of ``site_id``: what the site is sent."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT key_id, key_sha256 FROM api_keys WHERE role = ? AND site_id = ? AND revoked_at IS NULL "
                "ORDER BY key_id",
                (Role.SITE_ADMIN.value, site_id),
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def key_info(self, key_id: str) -> KeyInfo:
        """One key by id (revoked or not); ``NotFoundError`` if there is none."""
        found = [key for key in self.list_keys() if key.key_id == key_id]
        if not found:
            raise NotFoundError(f"no API key {key_id!r}")
        return found[0]

    def list_keys(self) -> list[KeyInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT key_id, role, site_id, label, created_at, revoked_at FROM api_keys ORDER BY created_at"
            ).fetchall()
        return [KeyInfo(row[0], Role(row[1]), row[2], row[3], row[4], row[5]) for row in rows]

    def audit(
        self,
        caller: Caller | None,
        endpoint: str,
        outcome: str,
        *,
        question: str | None = None,
        store_text: bool = False,
        sites: Sequence[str] = (),
        request_id: str | None = None,
    ) -> None:
        """Record one request. The question is stored as :meth:`question_hash` unless ``store_text``;
        ``request_id`` defaults to the id of the request being served (``X-Request-Id``, the one the sites
        log too)."""
        recorded = question if store_text or question is None else self.question_hash(question)
        with self._connect() as db:
            db.execute(
                "INSERT INTO audit_log (at, key_id, role, endpoint, outcome, question, sites, request_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    caller.key_id if caller else None,
                    caller.role.value if caller else None,
                    endpoint,
                    outcome,
                    recorded,
                    ",".join(sites),
                    request_id or current_request_id(),
                ),
            )

    def question_hash(self, question: str) -> str:
        """``hmac-sha256:<hex>`` of ``question`` under the gateway's audit key: equal questions match in the log,
        and a guess can be confirmed only by someone holding the key."""
        digest = hmac.new(self._audit_key, question.encode("utf-8"), hashlib.sha256).hexdigest()
        return "hmac-sha256:" + digest

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT at, key_id, role, endpoint, outcome, question, sites, request_id FROM audit_log "
                "ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            AuditEntry(
                at=r[0],
                key_id=r[1],
                role=r[2],
                endpoint=r[3],
                outcome=r[4],
                question=r[5],
                sites=[s for s in r[6].split(",") if s],
                request_id=r[7],
            )
            for r in rows
        ]

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=10)) as db, db:
            yield db


def _audit_key(path: Path) -> bytes:
    """The audit key at ``path``, made on first use (created once, whole: two processes agree on one key)."""
    return load_or_create_secret(path, 32, what="audit key", when_damaged="restore it from a backup")
