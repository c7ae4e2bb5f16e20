"""The parts of a service's settings that both services and the coordinator's settings share: whether it
serves HTTPS (``ServerTlsSettings``) and how it is observed (``ObservabilitySettings``).

Plain data: the services (api/) apply them; ``rag_fed.coordinator`` and ``api.site_service`` build their
settings from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

from rag_fed.observability import LogFormat, TracingSettings

__all__ = ["ObservabilitySettings", "ServerTlsSettings", "parse_bind"]


class ServerTlsSettings(BaseModel):
    """The part of a service's settings that decides HTTPS: both files set, or neither (plain HTTP)."""

    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate (chain) to serve HTTPS with; needs tls_key_file."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file (not encrypted).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            missing = "tls_key_file (--tls-key)" if self.tls_key_file is None else "tls_cert_file (--tls-cert)"
            raise ValueError(
                f"tls_cert_file (--tls-cert) and tls_key_file (--tls-key) go together, but {missing} is not set: "
                "set both to serve HTTPS, or neither to serve plain HTTP"
            )
        return self

    @property
    def serves_tls(self) -> bool:
        return self.tls_cert_file is not None


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
