"""Requests by route and status, the request id of the gateway, and ``/metrics`` itself.

The middleware is plain ASGI (an ``@app.middleware("http")`` costs about a millisecond per request, see
``api/site_service/app.py``). Routes are labelled by their template (``/v1/admin/documents/{doc_id:path}``),
never by the path a client sent, so a label's values stay few.
"""

from __future__ import annotations

import time
import uuid
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_fed.errors import ConfigError
from rag_fed.observability import request_context, span
from rag_fed.service_settings import parse_bind

__all__ = [
    "LATENCY_BUCKETS",
    "REQUEST_ID_HEADER",
    "HttpMetrics",
    "MetricsServer",
    "RequestMetricsMiddleware",
    "metrics_response",
]

REQUEST_ID_HEADER = "X-Request-Id"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
"""Seconds: from a sub-millisecond keyword search to a CPU model's minute-long answer."""


class HttpMetrics:
    """Requests by route template, method and status, and their latency: the part every app shares."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "ragfed_http_requests",
            "HTTP requests served, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "ragfed_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response (a stream's last byte), by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class RequestMetricsMiddleware:
    """Counts and times every HTTP request. With ``issue_request_ids`` (the gateway) each request gets a
    new id, served under it (``rag_fed.observability.request_context``) and returned as ``X-Request-Id``;
    an id a client sends is not used (it is the gateway's, so that it cannot be forged or reused)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, issue_request_ids: bool = False) -> None:
        self._app = app
        self._metrics = metrics
        self._issue = issue_request_ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex if self._issue else None
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if request_id is not None:
                    headers = list(message.get("headers", []))
                    headers.append((REQUEST_ID_HEADER.lower().encode("latin-1"), request_id.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            if request_id is None:
                await self._app(scope, receive, send_with_status)
            else:
                attributes = {"ragfed.request_id": request_id, "http.method": str(scope.get("method", ""))}
                with request_context(request_id, started), span("gateway.request", **attributes):
                    await self._app(scope, receive, send_with_status)
        finally:
            route = _route_of(scope)
            method = str(scope.get("method", ""))
            self._metrics.requests.labels(route, method, str(status)).inc()
            self._metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _route_of(scope: Scope) -> str:
    """The matched route's template; ``other`` for static files and paths that match no route."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "other"


def metrics_response(registry: CollectorRegistry) -> Response:
    """The registry in the Prometheus text format (0.0.4, which every Prometheus version reads)."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)


class MetricsServer:
    """``/metrics`` of ``registry`` on its own ``HOST:PORT`` (``metrics_bind``), in a daemon thread,
    without authentication: bind it to an interface only Prometheus reaches."""

    def __init__(self, registry: CollectorRegistry, bind: str) -> None:
        self._registry = registry
        self._host, self._port = parse_bind(bind)
        self._server: WSGIServer | None = None

    def start(self) -> None:
        try:
            server, _thread = start_http_server(self._port, self._host, self._registry)
        except OSError as error:
            raise ConfigError(
                f"cannot serve metrics on metrics_bind {self._host}:{self._port}: {error}; choose a free port"
            ) from None
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
