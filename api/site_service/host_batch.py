"""``POST /v1/host/query`` of a site host: the sealed queries of several of its sites in one request, each
site's sealed reply (or its error) streamed back as soon as that site has answered (``rag_fed.wire.batch``).

Why: the gateway's cost per site asked was mostly the HTTP request itself (docs/benchmarks.md, "Sealed
fan-out"); one request per host instead of one per site removes it, and each part is still sealed to and
opened by one site's keys only. A part gets exactly what the site's own ``/v1/site/query`` would answer:
the same responder call, the same error status and body, the same rejection count in the site's metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.errors import status_for
from api.observability import SiteMetrics
from api.site_service.body_limits import read_body
from api.site_service.open_site import ServiceResponder
from rag_fed.errors import AuthError, BusyError, EnvelopeError, RagFedError
from rag_fed.wire.batch import BATCH_MEDIA_TYPE, MAX_BATCH_PARTS, BatchPart, decode_parts, encode_part
from rag_fed.wire.paths import HOST_QUERY_PATH

__all__ = ["install_host_batch"]

_log = logging.getLogger(__name__)
_MAX_BATCH_BYTES = 64 * 1024 * 1024  # far above a batch of queries (a few KB each), far below memory


def install_host_batch(app: FastAPI, sites: Mapping[str, tuple[ServiceResponder, SiteMetrics]]) -> None:
    """Serve ``POST /v1/host/query`` on ``app`` for ``sites`` (site id -> its responder and metrics)."""

    async def answer(part: BatchPart) -> BatchPart:
        site = sites.get(part.site_id)
        if site is None:
            return _error_part(part.site_id, 404, "NotFoundError", f"no site {part.site_id!r} on this host")
        responder, metrics = site
        try:
            with metrics.counting_rejections():
                reply = await run_in_threadpool(responder.handle, part.body)
        except RagFedError as error:
            status, kind = status_for(error), type(error).__name__
            if status >= 500:
                _log.error("batched query to site %s failed: %s: %s", part.site_id, kind, error)
            elif isinstance(error, AuthError | EnvelopeError):
                _log.warning("batched query to site %s rejected: %s: %s", part.site_id, kind, error)
            retry = error.retry_after_s if isinstance(error, BusyError) else 0
            return _error_part(part.site_id, status, kind, str(error), retry)
        return BatchPart(part.site_id, reply)

    @app.post(HOST_QUERY_PATH, tags=["federation"], response_class=StreamingResponse)
    async def host_query(request: Request) -> StreamingResponse:
        """Several ``SiteQuery`` envelopes, each sealed to one site of this host; each site's sealed
        ``SiteReply`` (or error) back in the order they finish."""
        parts = decode_parts(await read_body(request, _MAX_BATCH_BYTES), MAX_BATCH_PARTS)
        tasks = [asyncio.ensure_future(answer(part)) for part in parts]

        async def replies() -> AsyncIterator[bytes]:
            try:
                for finished in asyncio.as_completed(tasks):
                    yield encode_part(await finished)
            finally:  # the gateway gave up (its deadline): nothing more to send
                for task in tasks:
                    task.cancel()

        return StreamingResponse(replies(), media_type=BATCH_MEDIA_TYPE)


def _error_part(site_id: str, status: int, kind: str, message: str, retry_after_s: int = 0) -> BatchPart:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    return BatchPart(site_id, body, status, retry_after_s)
