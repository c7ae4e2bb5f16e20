"""What comes back from the sites during one query: a sealed reply with its costs, or a failure;
the checks every reply passes; and how long the router waits for them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

from rag_fed.errors import InputError
from rag_fed.protocol import SiteQuery, SiteReply

__all__ = ["SentReply", "SiteFailure", "check_reply", "wait_for_replies"]


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
