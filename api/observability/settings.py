"""The part of a service's settings that says how it is observed: log format and a metrics address."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from rag_fed.observability import LogFormat, TracingSettings

__all__ = ["ObservabilitySettings", "parse_bind"]


def parse_bind(bind: str) -> tuple[str, int]:
    """``"HOST:PORT"`` as ``(host, port)``; ``ValueError`` naming the expected form otherwise."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"metrics_bind must be HOST:PORT (e.g. 127.0.0.1:9464), got {bind!r}")
    return host.strip("[]"), int(port)


class ObservabilitySettings(BaseModel):
    """``log_format``: ``text`` (default) or ``json`` (one JSON object per line). ``tracing``: OpenTelemetry
    spans per stage, off by default (``rag_fed.observability.tracing``). ``metrics_bind``: also
    serve ``/metrics`` without authentication on this ``HOST:PORT`` (a private interface for Prometheus);
    on the service's own port ``/metrics`` is always behind a key (operator at the gateway, site admin at
    a site)."""

    log_format: LogFormat = Field(default="text", description="text | json (JSON lines).")
    metrics_bind: str | None = Field(
        default=None,
        description="HOST:PORT where /metrics is served without a key, for Prometheus on a private network.",
    )

    tracing: TracingSettings = Field(
        default_factory=TracingSettings, description="OpenTelemetry spans: exporter none | console | otlp."
    )

    @field_validator("metrics_bind")
    @classmethod
    def _host_and_port(cls, bind: str | None) -> str | None:
        if bind is not None:
            parse_bind(bind)
        return bind
