"""What comes back from the sites during one query: a sealed reply with its costs, or a failure;
the checks every reply passes; how long the router waits for them; and what each site's outcome
and breaker make of it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from rag_fed.errors import InputError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.breaker import CircuitBreaker
from rag_fed.router.result import SiteOutcome

__all__ = ["SentReply", "SiteFailure", "check_reply", "ms_since", "settle", "wait_for_replies", "with_fetch"]

_log = logging.getLogger("rag_fed.router.router")


@dataclass(frozen=True)
class SentReply:
    reply: SiteReply
    latency_ms: float
    bytes_sent: int
    bytes_received: int


class SiteFailure(Exception):
    def __init__(self, message: str, latency_ms: float, bytes_sent: int, bytes_received: int = 0) -> None:
        super().__init__(message)
        self.latency_ms = latency_ms
        self.bytes_sent = bytes_sent
        self.bytes_received = bytes_received


async def wait_for_replies(tasks: Mapping[str, asyncio.Task[SentReply]], deadline: float, grace: float | None) -> bool:
    """Wait until every site replied or the deadline; with ``grace``, at most that long after the
    first site that answered (a sick site then costs ``grace``, not the whole deadline, on every
    question). True when the grace period, not the deadline or the last reply, ended the wait."""
    pending: set[asyncio.Task[SentReply]] = set(tasks.values())
    first_answer: float | None = None
    while pending:
        now = time.perf_counter()
        limit = deadline - now
        if first_answer is not None and grace is not None:
            limit = min(limit, first_answer + grace - now)
            if limit <= 0:
                return first_answer + grace < deadline
        if limit <= 0:
            return False
        done, pending = await asyncio.wait(pending, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        if first_answer is None and any(_answered(task) for task in done):
            first_answer = time.perf_counter()
    return False


def _answered(task: asyncio.Task[SentReply]) -> bool:
    return not task.cancelled() and task.exception() is None and task.result().reply.status == "answered"


def with_fetch(outcome: SiteOutcome, sent: SentReply) -> SiteOutcome:
    """``outcome`` with the second call that fetched candidates' text counted in (bytes, passages)."""
    return outcome.model_copy(
        update={
            "bytes_sent": outcome.bytes_sent + sent.bytes_sent,
            "bytes_received": outcome.bytes_received + sent.bytes_received,
            "fetched": len(sent.reply.passages),
        }
    )


def check_reply(reply: SiteReply, query: SiteQuery, site_id: str) -> None:
    if reply.site_id != site_id:
        raise InputError(f"reply names site {reply.site_id!r}")
    if reply.request_id != query.request_id:
        raise InputError(f"reply is for request {reply.request_id!r}, not {query.request_id!r}")
    if reply.status == "answered" and reply.embedder_version != query.embedder_version:
        # Its scores would come from comparing vectors of two embedders: never use them.
        raise InputError(
            f"site answered a query of embedder version {query.embedder_version!r} from an index of "
            f"{reply.embedder_version!r}"
        )


async def settle(
    site_id: str, task: asyncio.Task[SentReply], started: float, breaker: CircuitBreaker, unanswered: str
) -> tuple[SiteOutcome, SiteReply | None]:
    """One site's outcome, and what its breaker learns from it: a reply (even one reporting the
    site's own failure) is a success, a timeout of a call the site took is slow (not counted), and
    anything else (refused, reset, TLS, HTTP error, a reply that does not open) is a failure. A call
    still running is abandoned as ``timed_out`` with ``unanswered`` as the reason (the deadline's, or
    the straggler grace's)."""
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        breaker.record_slow()
        outcome = SiteOutcome(
            site_id=site_id,
            status="timed_out",
            latency_ms=ms_since(started),
            error=unanswered,
        )
        return outcome, None
    error = task.exception()
    if error is not None:
        slow = breaker.record_error(error)
        if isinstance(error, SiteFailure):
            return SiteOutcome(
                site_id=site_id,
                status="timed_out" if slow else "failed",
                latency_ms=error.latency_ms,
                bytes_sent=error.bytes_sent,
                bytes_received=error.bytes_received,
                error=str(error),
            ), None
        if not slow:
            _log.exception("site %s: unexpected error", site_id, exc_info=error)
        return SiteOutcome(
            site_id=site_id,
            status="timed_out" if slow else "failed",
            latency_ms=ms_since(started),
            error=(str(error) or "timed out") if slow else f"{type(error).__name__}: {error}",
        ), None
    result = task.result()
    # The site is up and speaking the protocol, even when it reports a failure of its own.
    breaker.record_success()
    reply = result.reply
    outcome = SiteOutcome(
        site_id=site_id,
        status="answered" if reply.status == "answered" else "failed",
        latency_ms=result.latency_ms,
        bytes_sent=result.bytes_sent,
        bytes_received=result.bytes_received,
        error=reply.error,
        egress=reply.egress,
        passages=len(reply.passages),
        embedder_version=reply.embedder_version,
    )
    return outcome, reply if reply.status == "answered" else None


def ms_since(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` reading)."""
    return (time.perf_counter() - start) * 1000
