"""The request being served, as a context variable: its id (one per question, made at the gateway and
carried to the sites inside the sealed ``SiteQuery``) and when it started.

A context variable follows the request into the asyncio tasks it creates and the worker threads it hands
work to (Starlette's ``run_in_threadpool`` copies the context), so every log line written on its behalf
can name it without each call passing it along.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["current_request_id", "request_context", "request_started"]


@dataclass(frozen=True)
class _Request:
    request_id: str
    started: float  # time.perf_counter() when the request arrived


_current: ContextVar[_Request | None] = ContextVar("ragfed_request", default=None)


@contextmanager
def request_context(request_id: str, started: float | None = None) -> Iterator[None]:
    """Serve one request under ``request_id`` until the block ends."""
    token = _current.set(_Request(request_id, time.perf_counter() if started is None else started))
    try:
        yield
    finally:
        _current.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served, or ``None`` outside of one."""
    request = _current.get()
    return request.request_id if request is not None else None


def request_started() -> float | None:
    """``time.perf_counter()`` when the request being served arrived, or ``None`` outside of one."""
    request = _current.get()
    return request.started if request is not None else None
