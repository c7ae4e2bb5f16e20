"""A fair share of the gateway's answer work per caller, and a bound on all of it.

Why (issue 19): one engineer's burst of questions filled every site's model queue and, waiting behind
itself, ran into the deadlines until the breakers opened for everyone; twenty concurrent clients waited
110 s at p95 and none was told to come back later. Now each API key may have ``per_caller`` answers in
progress and the gateway ``total``; one more is refused at once with HTTP 429 and a ``Retry-After`` of the
recent answer time, before any site is asked, so the answers admitted stay as fast as the sites allow.

A slot is held from admission until the answer's last byte (a streamed answer holds it while it streams).
It is released by :meth:`AnswerSlot.release`, idempotently, or when the slot is garbage-collected, so a
response that never started streaming (its client left) cannot leak it.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import Counter
from typing import Self

from rag_fed.errors import GatewayBusyError

__all__ = ["AnswerAdmission", "AnswerSlot"]


class AnswerSlot:
    """One admitted answer; a context manager that releases on exit."""

    def __init__(self, admission: AnswerAdmission, caller_id: str) -> None:
        self.caller_id = caller_id
        self._finalizer = weakref.finalize(self, admission._release, caller_id, time.monotonic())

    def release(self) -> None:
        self._finalizer()  # runs once: a second call, or the collection of a released slot, does nothing

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


class AnswerAdmission:
    """Counts the answers in progress per caller and in all. Thread-safe."""

    def __init__(self, per_caller: int, total: int, initial_seconds: float = 5.0) -> None:
        if per_caller < 1 or total < per_caller:
            raise ValueError(f"need 1 <= per_caller <= total, got {per_caller} and {total}")
        self.per_caller = per_caller
        self.total = total
        self._lock = threading.Lock()
        self._by_caller: Counter[str] = Counter()
        self._in_flight = 0
        self._seconds = initial_seconds  # moving average of an admitted answer's time, for Retry-After
        self.refused: Counter[str] = Counter()  # "caller" | "total": refusals since start (a metric)

    def admit(self, caller_id: str) -> AnswerSlot:
        """A slot for one answer of ``caller_id``, else :class:`GatewayBusyError` (HTTP 429)."""
        with self._lock:
            retry = max(1, min(60, math.ceil(self._seconds)))
            if self._by_caller[caller_id] >= self.per_caller:
                self.refused["caller"] += 1
                raise GatewayBusyError(
                    f"this API key already has {self.per_caller} answers in progress, the most one caller may "
                    f"have; retry after {retry} s, when one has finished",
                    retry,
                )
            if self._in_flight >= self.total:
                self.refused["total"] += 1
                raise GatewayBusyError(
                    f"the gateway is answering {self.total} questions, as many as it admits at once; "
                    f"retry after {retry} s",
                    retry,
                )
            self._by_caller[caller_id] += 1
            self._in_flight += 1
        return AnswerSlot(self, caller_id)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def in_flight_of(self, caller_id: str) -> int:
        with self._lock:
            return self._by_caller[caller_id]

    def _release(self, caller_id: str, admitted_at: float) -> None:
        with self._lock:
            self._by_caller[caller_id] -= 1
            if self._by_caller[caller_id] <= 0:
                del self._by_caller[caller_id]  # the counter does not grow with every key ever seen
            self._in_flight -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - admitted_at)
