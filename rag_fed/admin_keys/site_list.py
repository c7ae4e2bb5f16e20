"""The site's copy of the gateway's admin-key list: honoured only while it is fresh.

The list is replaced whole by every newer list the gateway seals to the site; an older one (a delayed or
replayed envelope) never replaces a newer one. A list is fresh for ``max_age_s`` from when it was sealed
(or received, if the sender's clock runs ahead): past that, every gateway-issued key is refused until the
next list arrives, so a revocation the site never heard of stops working within ``max_age_s`` anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag_fed.admin_keys.messages import AdminKeyList
from rag_fed.errors import AuthError, ConfigError

__all__ = ["GatewayKeyList", "KeyListStatus"]


@dataclass(frozen=True)
class KeyListStatus:
    """What the site holds: how many keys, the list's age (``None``: never received) and its limit."""

    keys: int
    age_s: float | None
    max_age_s: float

    @property
    def fresh(self) -> bool:
        return self.age_s is not None and self.age_s <= self.max_age_s


class GatewayKeyList:
    """Thread-safe. ``lookup`` answers a key id with its hash, ``None`` when the gateway did not issue it."""

    def __init__(self, site_id: str, max_age_s: float, *, now: Callable[[], float] = time.time) -> None:
        if max_age_s <= 0:
            raise ConfigError(f"admin key list max_age_s must be positive, got {max_age_s}")
        self._site_id = site_id
        self._max_age_s = max_age_s
        self._now = now
        self._hashes: dict[str, str] = {}
        self._anchor: float | None = None  # when the current list was sealed (never later than its receipt)
        self._lock = threading.Lock()

    def accept(self, keys: AdminKeyList, sealed_at: float) -> bool:
        """Take ``keys`` (sealed at ``sealed_at`` by the gateway) unless a newer list is already held."""
        if keys.site_id != self._site_id:
            raise AuthError(f"an admin key list for site {keys.site_id!r} was sent to site {self._site_id!r}")
        anchor = min(sealed_at, self._now())
        with self._lock:
            if self._anchor is not None and anchor <= self._anchor:
                return False
            self._hashes = {entry.key_id: entry.key_sha256 for entry in keys.keys}
            self._anchor = anchor
            return True

    def status(self) -> KeyListStatus:
        with self._lock:
            age = None if self._anchor is None else max(0.0, self._now() - self._anchor)
            return KeyListStatus(len(self._hashes), age, self._max_age_s)

    def lookup(self, key_id: str) -> str | None:
        """The hash of gateway-issued key ``key_id``; ``None`` if none was ever received or the list does not
        hold it; ``AuthError`` when the list is too old to say (the gateway has not reached the site)."""
        with self._lock:
            if self._anchor is None:
                return None
            age = self._now() - self._anchor
            if age > self._max_age_s:
                raise AuthError(
                    f"the gateway's admin key list at site {self._site_id} is {age:.0f} s old (limit "
                    f"{self._max_age_s:.0f} s), so gateway-issued admin keys are refused until the gateway "
                    "sends a new one: check that the gateway is running and can reach this site"
                )
            return self._hashes.get(key_id)
