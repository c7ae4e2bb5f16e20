"""Optional OpenTelemetry spans per stage, off by default (``tracing.exporter = "none"``).

``span`` costs one attribute read while tracing is off. ``configure_tracing`` turns it on for the process
with the exporter the settings name (``console``: span JSON on stdout; ``otlp``: OTLP over HTTP to a
collector), from the maintained SDK, installed with ``pip install 'rag-fed[tracing]'``. The provider is
this process's own: nothing is set in OpenTelemetry's globals. Gateway and site spans are separate traces
(the sealed query carries the request id, not a trace context); both carry ``ragfed.request_id``, which
joins them in the tracing backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field

from rag_fed.errors import ConfigError

__all__ = ["TracingSettings", "configure_tracing", "record_span", "shutdown_tracing", "span"]

Attribute = str | int | float | bool


class TracingSettings(BaseModel):
    exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="none (default) | console (stdout) | otlp (OTLP/HTTP to otlp_endpoint)."
    )
    otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces URL; default: the SDK's (http://localhost:4318/v1/traces)."
    )


_provider: Any = None
_tracer: Any = None


def configure_tracing(settings: TracingSettings, service_name: str, exporter: object | None = None) -> None:
    """Send this process's spans to the settings' exporter (or to ``exporter``, any OpenTelemetry
    ``SpanExporter``); nothing happens for ``none`` without one."""
    global _provider, _tracer
    if settings.exporter == "none" and exporter is None:
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise ConfigError(
            "tracing needs the OpenTelemetry SDK: pip install 'rag-fed[tracing]', or set tracing.exporter = \"none\""
        ) from None
    if exporter is None and settings.exporter == "console":
        exporter = ConsoleSpanExporter()
    elif exporter is None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError("the otlp exporter needs: pip install 'rag-fed[tracing]'") from None
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    shutdown_tracing()
    _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    _provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    _tracer = _provider.get_tracer("rag_fed")


def shutdown_tracing() -> None:
    """Export what is pending and turn tracing off."""
    global _provider, _tracer
    if _provider is not None:
        _provider.shutdown()
    _provider, _tracer = None, None


@contextmanager
def span(name: str, **attributes: Attribute) -> Iterator[None]:
    """A span around the block, a child of the current one; nothing while tracing is off."""
    tracer = _tracer
    if tracer is None:
        yield
        return
    with tracer.start_as_current_span(name, attributes=attributes):
        yield


def record_span(name: str, started_ns: int, ended_ns: int | None = None, **attributes: Attribute) -> None:
    """A span already over (``time.time_ns()`` bounds), as a child of the current one: for work timed
    where a ``with`` block cannot stand (a stream's lifetime, each site's call inside the fan-out)."""
    tracer = _tracer
    if tracer is None:
        return
    finished = tracer.start_span(name, start_time=started_ns, attributes=attributes)
    finished.end(end_time=ended_ns if ended_ns is not None else time.time_ns())
