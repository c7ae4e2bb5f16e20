"""Per-site circuit breakers: stop asking a site that keeps failing, then probe it once after a cool-down.

Closed: calls go through; ``failure_threshold`` consecutive failures open the breaker. Open: no calls
until ``cooldown_s`` has passed. Half-open: exactly one probe call is let through; its success closes
the breaker, its failure opens it for another cool-down. A dead site then costs one probe per cool-down
instead of a full deadline on every query.

Only a *dead* site trips a breaker: a refused or reset connection, a TLS failure, an HTTP error status,
a reply that does not open. A site that took the request and did not answer before the deadline is
*slow* (``record_slow``): that is neither a failure nor a success, so it neither opens nor closes the
breaker. Counting it as a failure hid a busy but healthy site for a whole cool-down after three slow
answers (the deadline already bounds what a slow site costs one query). ``is_slow`` tells the two apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

import httpx

from rag_fed.errors import ConfigError, SiteBusyError

__all__ = ["BreakerState", "CircuitBreaker", "CircuitBreakers", "is_slow"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One site's breaker. Thread-safe; time comes from ``clock`` (monotonic seconds)."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ConfigError(
                f"circuit breaker needs failure_threshold >= 1 and cooldown_s > 0, "
                f"got {failure_threshold} and {cooldown_s}"
            )
        self._threshold = failure_threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._failures

    def retry_in_s(self) -> float:
        """Seconds until the next probe is allowed (0 when calls may go through)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self._cooldown_s - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state only the first caller gets ``True``."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probe_in_flight or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._probe_in_flight = False

    def record_slow(self) -> None:
        """The site took the call but did not answer in time: it is alive, so nothing is counted.
        A half-open breaker stays half-open, and the next call is the next probe."""
        with self._lock:
            self._probe_in_flight = False

    def record_error(self, error: BaseException) -> bool:
        """Record a call that raised ``error``: slow (``is_slow``) or a failure. Returns whether it was slow."""
        slow = is_slow(error)
        if slow:
            self.record_slow()
        else:
            self.record_failure()
        return slow

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN


class CircuitBreakers:
    """One breaker per site id, created on first use with the same settings."""

    def __init__(
        self,
        failure_threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        CircuitBreaker(failure_threshold, cooldown_s, clock)  # validates the settings now, not on first use
        self._settings = (failure_threshold, cooldown_s, clock)
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def for_site(self, site_id: str) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(site_id)
            if breaker is None:
                breaker = self._breakers[site_id] = CircuitBreaker(*self._settings)
            return breaker

    def states(self) -> dict[str, BreakerState]:
        with self._lock:
            breakers = dict(self._breakers)
        return {site_id: breaker.state for site_id, breaker in breakers.items()}


def is_slow(error: BaseException) -> bool:
    """Whether ``error`` (with the errors it was raised from or during) is a timeout of a call the site
    accepted: a timeout anywhere in the chain, unless the connection itself was never made (a host that
    drops packets times out while connecting, and is dead, not slow)."""
    seen: set[int] = set()
    timed_out = False
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, httpx.ConnectTimeout):
            return False
        if isinstance(current, SiteBusyError):  # it answered 429: alive, its model queue is full
            return True
        timed_out = timed_out or isinstance(current, TimeoutError)
        current = current.__cause__ or current.__context__
    return timed_out
