"""Replay protection: remember each accepted envelope's nonce for as long as the envelope could be valid.

An envelope is accepted while ``now - sent_at <= max_age`` and ``sent_at - now <= clock_skew``, so one
received at ``now`` can be replayed until at most ``now + max_age + clock_skew``; that is the window.
Older nonces are forgotten (the envelope's timestamp check rejects them), which bounds memory by the
accepted rate times the window.
"""

from __future__ import annotations

import heapq
import threading

from rag_fed.errors import ConfigError, EnvelopeError

__all__ = ["ReplayGuard"]


class ReplayGuard:
    """A thread-safe set of recently seen nonces with expiry.

    ``max_entries`` is a hard cap for a flood of *authenticated* envelopes (only those are recorded).
    When it is reached the guard refuses new nonces rather than forgetting live ones, which would
    reopen the door to replays.
    """

    def __init__(self, window_s: float, *, max_entries: int = 1_000_000) -> None:
        if window_s <= 0:
            raise ConfigError(f"replay window_s must be positive, got {window_s}")
        if max_entries < 1:
            raise ConfigError(f"replay guard max_entries must be at least 1, got {max_entries}")
        self._window_s = window_s
        self._max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._by_expiry: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

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
            self._expiry[nonce] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, nonce))
            return True

    def _prune(self, now: float) -> None:
        # Each nonce is pushed once (a replay is never re-inserted), so heap and dict stay in step.
        while self._by_expiry and self._by_expiry[0][0] <= now:
            _, nonce = heapq.heappop(self._by_expiry)
            del self._expiry[nonce]
