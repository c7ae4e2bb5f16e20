"""One request per site host instead of one per site: the sealed queries that the router sends in one
step to sites of the same host (URLs ``<origin>/sites/<site id>``) go out together to the host's
``/v1/host/query`` (``rag_fed.wire.batch``), and each site's reply is handed to its caller as it arrives.

The router does not know: each ``HttpSiteClient.search`` still sends one sealed query and gets one sealed
reply, error or timeout. The calls made in the same turn of the event loop (the router starts all of a
question's sites at once) are collected and sent when that turn ends. A single call, or a host that does
not serve the batch path (an older one answers 404), gets the plain per-site request: nothing changes on
the wire for a peer that does not know batches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from rag_fed.errors import RagFedError, SiteBusyError, SiteUnavailableError
from rag_fed.wire.batch import BATCH_MEDIA_TYPE, BatchPart, PartReader, encode_parts
from rag_fed.wire.paths import HOST_QUERY_PATH, SITES_PREFIX

__all__ = ["HostBatcher", "host_of"]

_CONNECT_TIMEOUT_S = 5.0


def host_of(url: str) -> tuple[str, str] | None:
    """``(origin, site id)`` of a site host URL ``<origin>/sites/<site id>``, else ``None``."""
    origin, sep, site_id = url.rstrip("/").rpartition(f"{SITES_PREFIX}/")
    if not sep or not site_id or "/" in site_id or not origin.startswith(("http://", "https://")):
        return None
    return origin, site_id


@dataclass
class _Call:
    site_id: str
    sealed: bytes
    timeout_s: float
    reply: asyncio.Future[bytes | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class HostBatcher:
    """The batch of one site host's origin, shared by the clients of its sites (one ``httpx`` client)."""

    def __init__(self, http: httpx.AsyncClient, origin: str) -> None:
        self._http = http
        self._url = f"{origin}{HOST_QUERY_PATH}"
        self._pending: dict[str, _Call] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self.supported = True  # False once the host said it serves no batches

    async def search(self, site_id: str, sealed: bytes, timeout_s: float) -> bytes | None:
        """The sealed reply of ``site_id``; ``None``: send it alone (a batch of one, or an older host).
        Raises like ``HttpSiteClient.search``."""
        if not self.supported:
            return None
        if site_id in self._pending:  # the same site twice in one turn (two questions at once): a new batch
            self._flush()
        call = _Call(site_id, sealed, timeout_s)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending[site_id] = call
        try:
            return await asyncio.wait_for(call.reply, timeout_s)
        except TimeoutError:
            raise TimeoutError(f"site {site_id} did not answer within {timeout_s:.1f} s") from None

    def _flush(self) -> None:
        calls, self._pending = list(self._pending.values()), {}
        if len(calls) == 1:
            _resolve(calls[0], None)
        elif calls:
            task = asyncio.ensure_future(self._send(calls))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, calls: list[_Call]) -> None:
        waiting: dict[str, _Call | None] = {call.site_id: call for call in calls}
        timeout_s = max(call.timeout_s for call in calls)
        body = encode_parts(BatchPart(call.site_id, call.sealed) for call in calls)
        started = time.monotonic()
        try:
            timeout = httpx.Timeout(timeout_s, connect=min(_CONNECT_TIMEOUT_S, timeout_s))
            headers = {"content-type": BATCH_MEDIA_TYPE}
            async with self._http.stream("POST", self._url, content=body, headers=headers, timeout=timeout) as response:
                if response.status_code in (404, 405):  # an older host, or a single site at this origin
                    self.supported = False
                    for call in calls:
                        _resolve(call, None)
                    return
                if response.status_code != 200:
                    await response.aread()
                    failure = f"answered HTTP {response.status_code} to a batch: {response.text[:300]}"
                    _fail_all(waiting, lambda site: SiteUnavailableError(f"site {site} {failure}"))
                    return
                reader = PartReader(len(calls))
                async for chunk in response.aiter_bytes():
                    for part in reader.feed(chunk):
                        answered = waiting.pop(part.site_id, None)
                        if answered is not None:
                            _answer(answered, part)
        except httpx.TimeoutException:
            seconds = time.monotonic() - started
            _fail_all(waiting, lambda site: TimeoutError(f"site {site} did not answer within {seconds:.1f} s"))
        except httpx.HTTPError as error:
            reason = f"at {self._url}: unreachable: {error}"
            _fail_all(waiting, lambda site: SiteUnavailableError(f"site {site} {reason}"))
        except RagFedError as error:  # a malformed batch reply: the sites waiting for it must not wait forever
            reason = f"unreadable batch reply from {self._url}: {error}"
            _fail_all(waiting, lambda site: SiteUnavailableError(f"site {site}: {reason}"))
        _fail_all(waiting, lambda site: SiteUnavailableError(f"site {site}: the host's batch reply had no part for it"))


def _answer(call: _Call, part: BatchPart) -> None:
    if part.status == 200:
        _resolve(call, part.body)
        return
    text = _error_text(part.body)
    if part.status == 429:  # alive, but its model queue is full: not a failure of the site
        error: Exception = SiteBusyError(f"site {call.site_id} is busy (HTTP 429): {text}", part.retry_after_s or 1)
    else:
        error = SiteUnavailableError(f"site {call.site_id} answered HTTP {part.status}: {text}")
    if not call.reply.done():
        call.reply.set_exception(error)


def _resolve(call: _Call, reply: bytes | None) -> None:
    if not call.reply.done():  # its caller may have given up already (deadline)
        call.reply.set_result(reply)


def _fail_all(waiting: dict[str, _Call | None], error_for: Callable[[str], Exception]) -> None:
    for site_id, call in waiting.items():
        if call is not None and not call.reply.done():
            call.reply.set_exception(error_for(site_id))
    waiting.clear()


def _error_text(body: bytes) -> str:
    """``<type>: <message>`` of an error part, else the start of its body."""
    try:
        error = json.loads(body)["error"]
        return f"{error['type']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", "replace")
