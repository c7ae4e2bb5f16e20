"""Replay protection: remember each accepted envelope's nonce for as long as the envelope could be valid.

An envelope is accepted while ``now - sent_at <= max_age`` and ``sent_at - now <= clock_skew``, so one
received at ``now`` can be replayed until at most ``now + max_age + clock_skew``; that is the window.
Older nonces are forgotten (the envelope's timestamp check rejects them), which bounds memory by the
accepted rate times the window.

With a ``journal`` (a SQLite file, 0600) every remembered nonce is also committed there before the
envelope's payload is handed on, and a guard opened on the same journal after a restart remembers the
nonces still inside their window: an envelope answered before a restart is refused after it.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
import time
from pathlib import Path

from rag_fed.errors import ConfigError, EnvelopeError
from rag_fed.files import private_file

__all__ = ["ReplayGuard"]


class ReplayGuard:
    """A thread-safe set of recently seen nonces with expiry.

    ``max_entries`` is a hard cap for a flood of *authenticated* envelopes (only those are recorded).
    When it is reached the guard refuses new nonces rather than forgetting live ones, which would
    reopen the door to replays.
    """

    def __init__(
        self, window_s: float, *, max_entries: int = 1_000_000, journal: Path | None = None, now: float | None = None
    ) -> None:
        if window_s <= 0:
            raise ConfigError(f"replay window_s must be positive, got {window_s}")
        if max_entries < 1:
            raise ConfigError(f"replay guard max_entries must be at least 1, got {max_entries}")
        self._window_s = window_s
        self._max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._by_expiry: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._journal = _open_journal(journal) if journal is not None else None
        self._recorded = 0
        if self._journal is not None:
            self._load(time.time() if now is None else now)

    @property
    def window_s(self) -> float:
        return self._window_s

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def seen(self, nonce: bytes, now: float) -> bool:
        """Whether ``nonce`` was remembered and has not expired at ``now``. Records nothing."""
        with self._lock:
            expires_at = self._expiry.get(nonce)
            return expires_at is not None and expires_at > now

    def check_and_remember(self, nonce: bytes, now: float) -> bool:
        """Remember ``nonce`` until ``now + window_s``; ``False`` if it is already remembered (a replay).

        Check and insert happen under one lock, so two copies of an envelope arriving together cannot
        both pass.
        """
        with self._lock:
            self._prune(now)
            if nonce in self._expiry:
                return False
            if len(self._expiry) >= self._max_entries:
                raise EnvelopeError(
                    f"replay cache is full ({self._max_entries} nonces within {self._window_s:.0f} s); "
                    "refusing the envelope rather than forgetting live nonces. Raise max_entries or "
                    "investigate the sender's request rate."
                )
            expires_at = now + self._window_s
            if self._journal is not None:
                self._write(nonce, expires_at, now)
            self._expiry[nonce] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, nonce))
            return True

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def _load(self, now: float) -> None:
        assert self._journal is not None
        rows = self._journal.execute("SELECT nonce, expires_at FROM nonces WHERE expires_at > ?", (now,)).fetchall()
        for nonce, expires_at in rows:
            self._expiry[bytes(nonce)] = float(expires_at)
            heapq.heappush(self._by_expiry, (float(expires_at), bytes(nonce)))

    def _write(self, nonce: bytes, expires_at: float, now: float) -> None:
        assert self._journal is not None
        try:
            with self._journal:
                self._journal.execute("INSERT OR REPLACE INTO nonces VALUES (?, ?)", (nonce, expires_at))
                self._recorded += 1
                if self._recorded % 1000 == 0:  # forget the expired ones now and then, in the same commit
                    self._journal.execute("DELETE FROM nonces WHERE expires_at <= ?", (now,))
        except sqlite3.Error as error:
            # Not remembered durably means it could be replayed after a restart: refuse instead.
            raise EnvelopeError(f"replay journal not writable ({error}); refusing the envelope") from None

    def _prune(self, now: float) -> None:
        # Each nonce is pushed once (a replay is never re-inserted), so heap and dict stay in step.
        while self._by_expiry and self._by_expiry[0][0] <= now:
            _, nonce = heapq.heappop(self._by_expiry)
            del self._expiry[nonce]


def _open_journal(path: Path) -> sqlite3.Connection:
    private_file(path)
    db = sqlite3.connect(path, timeout=10, check_same_thread=False)  # used under the guard's lock only
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing committed; a power cut may
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS nonces (nonce BLOB PRIMARY KEY, expires_at REAL NOT NULL)")
    return db
