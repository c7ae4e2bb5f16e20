"""How the router reaches a site: over HTTP, or in process (unit tests, evaluation).

A client moves sealed bytes only; it never sees a question in clear. It raises ``TimeoutError`` when
the site did not answer within ``timeout_s`` and ``SiteUnavailableError`` for anything else that kept
the reply from arriving (connection refused, an HTTP error status), with the site's own error message
when it sent one.

``https://`` site URLs are verified against a CA bundle (``site_tls_context``; the gateway's
``tls_ca_file``, else the system trust store), never unverified; a certificate that does not verify is
reported as a TLS verification failure, so an operator can tell it from a site that is down.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from rag_fed.errors import ConfigError, SiteBusyError, SiteUnavailableError
from rag_fed.router.host_batch import HostBatcher, host_of
from rag_fed.wire.paths import HEALTH_PATH, MODEL_PATH, QUERY_PATH, SKETCH_PATH, TERM_STATS_PATH

CONNECT_TIMEOUT_S = 5.0
"""Longest wait for a site's TCP (and TLS) connection; the rest of a call gets the query's deadline."""

__all__ = [
    "HEALTH_PATH",
    "MODEL_PATH",
    "QUERY_PATH",
    "SKETCH_PATH",
    "TERM_STATS_PATH",
    "HttpSiteClient",
    "InProcessSiteClient",
    "SiteClient",
    "SketchClient",
    "describe_http_error",
    "http_site_clients",
    "site_http_client",
    "site_tls_context",
]

_ENVELOPE_TYPE = "application/json"


@runtime_checkable
class SiteClient(Protocol):
    """The router's view of one site: sealed query in, sealed reply out."""

    @property
    def site_id(self) -> str: ...

    async def search(self, sealed: bytes, timeout_s: float) -> bytes: ...


@runtime_checkable
class SketchClient(Protocol):
    """A site that can also hand out its sketch (sealed to the gateway)."""

    @property
    def site_id(self) -> str: ...

    async def fetch_sketch(self, timeout_s: float) -> bytes: ...


def site_tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """How a coordinator verifies ``https://`` sites: against the PEM bundle ``ca_file``, else the system
    trust store; always with certificate and host name checks (there is no switch to turn them off)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"cannot load the CA bundle tls_ca_file={ca_file}: {error}. Give a readable PEM file of the CA "
            "certificates that sign the sites' certificates"
        ) from None


def http_site_clients(urls: Mapping[str, str], http: httpx.AsyncClient) -> list[HttpSiteClient]:
    """A client per site (``site id -> URL``) on ``http``, in site id order; the sites of one site host
    (URLs ``<origin>/sites/<site id>``, two or more at one origin) share one ``HostBatcher``."""
    origins = Counter(host[0] for host in map(host_of, urls.values()) if host is not None)
    batchers = {origin: HostBatcher(http, origin) for origin, sites in origins.items() if sites > 1}
    clients = []
    for site_id, url in sorted(urls.items()):
        host = host_of(url)
        batcher = batchers.get(host[0]) if host is not None and host[1] == site_id else None
        clients.append(HttpSiteClient(site_id, url, http, batcher=batcher))
    return clients


def site_http_client(ca_file: Path | None = None) -> httpx.AsyncClient:
    """The gateway's one pooled client for all its sites, verifying ``https://`` sites with ``ca_file``."""
    return httpx.AsyncClient(verify=site_tls_context(ca_file))


def describe_http_error(error: httpx.HTTPError) -> str:
    """Why a request to a site failed, naming TLS failures as such: their fix (the CA bundle, the site's
    certificate, the URL's scheme) is not the fix for a site that is down."""
    cause: BaseException | None = error
    for _ in range(8):  # httpx -> httpcore -> ssl; bounded in case of a cycle
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                f"TLS verification failed: {cause.verify_message or cause} (the gateway trusts the CAs in its "
                "tls_ca_file, or the system trust store when that is unset, and checks the host name)"
            )
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause} (does the site serve https at this URL?)"
        cause = cause.__cause__ or cause.__context__
    return f"unreachable: {error}"


class HttpSiteClient:
    """POSTs the sealed envelope to ``<base_url>/v1/site/query``. Share one ``httpx.AsyncClient``
    (``site_http_client``) between the clients of a gateway (connection pooling); a client made here,
    verifying ``https://`` with ``ca_file``, is closed by ``aclose``. With a ``batcher`` (the sites of one
    site host, ``http_site_clients``) a query goes out in one request with those of the host's other sites
    asked at the same time (``rag_fed.router.host_batch``)."""

    def __init__(
        self,
        site_id: str,
        base_url: str,
        http: httpx.AsyncClient | None = None,
        *,
        ca_file: Path | None = None,
        batcher: HostBatcher | None = None,
    ) -> None:
        self._site_id = site_id
        self._base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http if http is not None else site_http_client(ca_file)
        self._batcher = batcher

    @property
    def site_id(self) -> str:
        return self._site_id

    @property
    def base_url(self) -> str:
        return self._base_url

    async def search(self, sealed: bytes, timeout_s: float) -> bytes:
        if self._batcher is not None:
            started = time.monotonic()
            reply = await self._batcher.search(self._site_id, sealed, timeout_s)
            if reply is not None:
                return reply
            timeout_s = max(0.001, timeout_s - (time.monotonic() - started))
        return await self._call("POST", QUERY_PATH, sealed, timeout_s)

    async def fetch_sketch(self, timeout_s: float) -> bytes:
        return await self._call("GET", SKETCH_PATH, None, timeout_s)

    async def fetch_term_stats(self, sealed: bytes, timeout_s: float) -> bytes:
        return await self._call("POST", TERM_STATS_PATH, sealed, timeout_s)

    async def health(self, timeout_s: float) -> bool:
        """Whether ``GET /health`` answers 200 in time."""
        return await self.health_info(timeout_s) is not None

    async def health_info(self, timeout_s: float) -> dict[str, object] | None:
        """The site's ``GET /health`` body (it names the embedder version the site serves), or ``None``
        when it does not answer 200 with a JSON object in time. Unsealed: use it as a hint only."""
        try:
            response = await self._http.get(f"{self._base_url}{HEALTH_PATH}", timeout=timeout_s)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, json.JSONDecodeError):
            return None
        return body if isinstance(body, dict) else None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _call(self, method: str, path: str, body: bytes | None, timeout_s: float) -> bytes:
        url = f"{self._base_url}{path}"
        headers = {"content-type": _ENVELOPE_TYPE} if body is not None else {}
        try:
            # A short connect timeout: a host that drops packets fails fast and counts as dead, not slow.
            timeout = httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s))
            response = await self._http.request(method, url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            raise TimeoutError(f"site {self._site_id} did not answer within {timeout_s:.1f} s") from None
        except httpx.HTTPError as error:
            raise SiteUnavailableError(f"site {self._site_id} at {url}: {describe_http_error(error)}") from None
        if response.status_code == 429:  # alive, but its model queue is full: not a failure of the site
            retry = response.headers.get("retry-after", "1")
            raise SiteBusyError(
                f"site {self._site_id} is busy (HTTP 429): {_error_text(response)}",
                int(retry) if retry.isdigit() else 1,
            )
        if response.status_code != 200:
            raise SiteUnavailableError(
                f"site {self._site_id} answered HTTP {response.status_code}: {_error_text(response)}"
            )
        return response.content


class InProcessSiteClient:
    """Calls a site handler in this process (in a worker thread, so the event loop is never blocked).

    ``handler`` takes the sealed query and returns the sealed reply; ``sketch`` (optional) returns the
    sealed sketch, ``term_stats`` (optional) answers a sealed term-statistics request. Exceptions they
    raise reach the router as failures of this site.
    """

    def __init__(
        self,
        site_id: str,
        handler: Callable[[bytes], bytes],
        sketch: Callable[[], bytes] | None = None,
        term_stats: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._site_id = site_id
        self._handler = handler
        self._sketch = sketch
        self._term_stats = term_stats

    @property
    def site_id(self) -> str:
        return self._site_id

    async def search(self, sealed: bytes, timeout_s: float) -> bytes:
        return await asyncio.wait_for(asyncio.to_thread(self._handler, sealed), timeout_s)

    async def fetch_sketch(self, timeout_s: float) -> bytes:
        if self._sketch is None:
            raise SiteUnavailableError(f"site {self._site_id} publishes no sketch")
        return await asyncio.wait_for(asyncio.to_thread(self._sketch), timeout_s)

    async def fetch_term_stats(self, sealed: bytes, timeout_s: float) -> bytes:
        if self._term_stats is None:
            raise SiteUnavailableError(f"site {self._site_id} publishes no term statistics")
        return await asyncio.wait_for(asyncio.to_thread(self._term_stats, sealed), timeout_s)


def _error_text(response: httpx.Response) -> str:
    """The ``{"error": {"message"}}`` of an api/ error body, else the start of the body."""
    try:
        body = response.json()
        message = body["error"]["message"]
        kind = body["error"].get("type", "")
        return f"{kind}: {message}" if kind else str(message)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return response.text[:300] or response.reason_phrase
