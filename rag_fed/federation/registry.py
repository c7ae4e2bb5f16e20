"""The gateway's registry of sites: id, URL and public key, persisted in one SQLite file.

Key rotation keeps the old keys as history (with ``retired_at``) for audit, but only the current key
verifies envelopes. Accepting a retired key for a grace period would keep a possibly compromised key
alive exactly when an operator rotated it away; the cost is that replies sealed with the old key in
the few seconds around a rotation fail and that query is retried.
"""

from __future__ import annotations

import builtins
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from nacl.public import PublicKey
from pydantic import BaseModel, ConfigDict

from rag_fed.crypto.ids import validate_node_id
from rag_fed.crypto.keys import fingerprint, public_key_from_text, public_key_to_text
from rag_fed.errors import InputError, UnknownSiteError
from rag_fed.files import private_file

__all__ = ["RegisteredSite", "SiteKey", "SiteRegistry", "validate_site_url"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    site_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS site_keys (
    site_id TEXT NOT NULL REFERENCES sites(site_id) ON DELETE CASCADE,
    public_key TEXT NOT NULL UNIQUE,
    added_at REAL NOT NULL,
    retired_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_current_key ON site_keys(site_id) WHERE retired_at IS NULL;
"""
_SELECT_SITES = """
SELECT s.site_id, s.url, k.public_key, s.registered_at, k.added_at
FROM sites s JOIN site_keys k ON k.site_id = s.site_id AND k.retired_at IS NULL
"""


class RegisteredSite(BaseModel):
    """One site as the gateway knows it. ``public_key`` is the current key (URL-safe base64)."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    url: str
    public_key: str
    registered_at: float
    key_added_at: float

    @property
    def key(self) -> PublicKey:
        return public_key_from_text(self.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class SiteKey(BaseModel):
    """One key a site has had; ``retired_at`` is ``None`` for the current one."""

    model_config = ConfigDict(frozen=True)

    public_key: str
    added_at: float
    retired_at: float | None


def validate_site_url(url: str) -> str:
    """Return the URL without a trailing slash if it is a plain http(s) base URL, else ``InputError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"invalid site URL {url!r}: use http://host[:port][/path] or https://...")
    if parts.username or parts.password:
        raise InputError(f"site URL {url!r} embeds credentials; remove them (sites authenticate by key)")
    if parts.query or parts.fragment:
        raise InputError(f"site URL {url!r} has a query or fragment; give the base URL only")
    try:
        _ = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        raise InputError(f"site URL {url!r} has an invalid port") from None
    return url.rstrip("/")


class SiteRegistry:
    """Sites, their URLs and keys. Each call opens its own connection, so one instance is thread-safe."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        private_file(path)  # 0600: the sites' URLs and keys are the operator's
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def register(self, site_id: str, url: str, public_key: str) -> RegisteredSite:
        """Add a site. ``InputError`` if the id is taken, or the id, URL or key is invalid or reused."""
        validate_node_id(site_id, what="site id")
        url = validate_site_url(url)
        key_text = public_key_to_text(public_key_from_text(public_key))
        now = self._clock()
        with self._connect() as db:
            if db.execute("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)).fetchone():
                raise InputError(f"site {site_id!r} is already registered; use rotate_key or remove it first")
            self._refuse_known_key(db, key_text)
            try:
                db.execute("INSERT INTO sites VALUES (?, ?, ?)", (site_id, url, now))
                db.execute("INSERT INTO site_keys VALUES (?, ?, ?, NULL)", (site_id, key_text, now))
            except sqlite3.IntegrityError:
                raise InputError(f"site {site_id!r} or its key was registered concurrently; retry") from None
        return self.get(site_id)

    def get(self, site_id: str) -> RegisteredSite:
        """The site with this id; ``UnknownSiteError`` if there is none."""
        with self._connect() as db:
            row = db.execute(_SELECT_SITES + " WHERE s.site_id = ?", (site_id,)).fetchone()
        if row is None:
            raise UnknownSiteError(f"no registered site {site_id!r}; register it first")
        return _site(row)

    def list(self) -> builtins.list[RegisteredSite]:
        """All sites, by id."""
        with self._connect() as db:
            rows = db.execute(_SELECT_SITES + " ORDER BY s.site_id").fetchall()
        return [_site(row) for row in rows]

    def remove(self, site_id: str) -> None:
        """Forget a site and its key history; its envelopes are refused from now on."""
        with self._connect() as db:
            if db.execute("DELETE FROM sites WHERE site_id = ?", (site_id,)).rowcount == 0:
                raise UnknownSiteError(f"no registered site {site_id!r} to remove")

    def rotate_key(self, site_id: str, new_public_key: str) -> RegisteredSite:
        """Make ``new_public_key`` the site's only accepted key; the old one is kept as retired history."""
        key_text = public_key_to_text(public_key_from_text(new_public_key))
        now = self._clock()
        with self._connect() as db:
            if not db.execute("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)).fetchone():
                raise UnknownSiteError(f"no registered site {site_id!r}; register it first")
            self._refuse_known_key(db, key_text)
            db.execute("UPDATE site_keys SET retired_at = ? WHERE site_id = ? AND retired_at IS NULL", (now, site_id))
            try:
                db.execute("INSERT INTO site_keys VALUES (?, ?, ?, NULL)", (site_id, key_text, now))
            except sqlite3.IntegrityError:
                raise InputError(f"key of site {site_id!r} was changed concurrently; retry") from None
        return self.get(site_id)

    def key_history(self, site_id: str) -> builtins.list[SiteKey]:
        """Every key the site has had, oldest first."""
        self.get(site_id)
        with self._connect() as db:
            rows = db.execute(
                "SELECT public_key, added_at, retired_at FROM site_keys WHERE site_id = ? ORDER BY rowid",
                (site_id,),
            ).fetchall()
        return [SiteKey(public_key=key, added_at=added, retired_at=retired) for key, added, retired in rows]

    def sender_keys(self) -> Mapping[str, PublicKey]:
        """A live read-only view ``site_id -> current key`` for ``EnvelopeOpener(known_senders=...)``.

        Every lookup reads the database, so a rotation or removal applies to the next envelope.
        """
        return _CurrentKeys(self)

    def _refuse_known_key(self, db: sqlite3.Connection, key_text: str) -> None:
        # A key is never shared or reused: two sites with one key could speak for each other, and
        # returning to a retired key would revive a key that was rotated away, perhaps for a reason.
        row = db.execute("SELECT site_id FROM site_keys WHERE public_key = ?", (key_text,)).fetchone()
        if row is not None:
            raise InputError(
                f"public key {fingerprint(public_key_from_text(key_text))} is already used (or was used) "
                f"by site {row[0]!r}; generate a new key pair"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # closing() closes the connection; the inner ``with db`` commits or rolls back the transaction.
        with closing(sqlite3.connect(self._path)) as db, db:
            db.execute("PRAGMA foreign_keys = ON")
            yield db


class _CurrentKeys(Mapping[str, PublicKey]):
    def __init__(self, registry: SiteRegistry) -> None:
        self._registry = registry

    def __getitem__(self, site_id: str) -> PublicKey:
        try:
            return self._registry.get(site_id).key
        except UnknownSiteError:
            raise KeyError(site_id) from None

    def __iter__(self) -> Iterator[str]:
        return iter([site.site_id for site in self._registry.list()])

    def __len__(self) -> int:
        return len(self._registry.list())


def _site(row: tuple[str, str, str, float, float]) -> RegisteredSite:
    site_id, url, key, registered_at, key_added_at = row
    return RegisteredSite(
        site_id=site_id, url=url, public_key=key, registered_at=registered_at, key_added_at=key_added_at
    )
