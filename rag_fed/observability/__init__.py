"""Request ids and structured logs for every process of the federation (no HTTP, no metrics backend)."""

from rag_fed.observability.context import current_request_id, request_context, request_started
from rag_fed.observability.logs import LogFormat, configure_logging, redact_secrets

__all__ = [
    "LogFormat",
    "configure_logging",
    "current_request_id",
    "redact_secrets",
    "request_context",
    "request_started",
]
