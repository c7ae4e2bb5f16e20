"""Request ids, structured logs and optional traces for every process of the federation (no HTTP, no
metrics backend)."""

from rag_fed.observability.context import current_request_id, request_context, request_started
from rag_fed.observability.logs import LogFormat, configure_logging, redact_secrets
from rag_fed.observability.tracing import TracingSettings, configure_tracing, record_span, shutdown_tracing, span

__all__ = [
    "LogFormat",
    "TracingSettings",
    "configure_logging",
    "configure_tracing",
    "current_request_id",
    "record_span",
    "redact_secrets",
    "request_context",
    "request_started",
    "shutdown_tracing",
    "span",
]
