"""Settings of the gateway, read from one TOML file (``--config``) and ``RAGFED_GATEWAY__*`` variables, under
the flags (rag_fed/settings_loader.py); every field has a default.

Everything the gateway keeps lives under ``home`` (default: ``<RAGFED_DATA_DIR>/gateway``): its key pair
(``keys/``; sites need ``keys/public.key``), API keys and the audit log (``gateway.db``), the site registry
(``registry.db``), the federation term key (``term_stats.key``) and the embedder versions (``models/``).
``ragfed gateway init`` creates it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, PositiveInt, model_validator

from rag_fed.config import AnswerSettings, EmbedderSettings, GeneratorSettings, get_settings
from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.router import RoutingPolicy
from rag_fed.service_settings import ObservabilitySettings, ServerTlsSettings
from rag_fed.settings_loader import load_service_settings
from rag_fed.types import SearchMode

__all__ = ["ENV_PREFIX", "GatewaySettings", "default_home"]

ENV_PREFIX = "RAGFED_GATEWAY__"
"""``RAGFED_GATEWAY__<FIELD>`` (nested with ``__``) sets a field over the TOML file and under the flags."""


def default_home() -> Path:
    """``<data_dir>/gateway``: beside the sites of this machine, wherever the command runs from."""
    return get_settings().data_dir / "gateway"


class GatewaySettings(ServerTlsSettings, ObservabilitySettings):
    """``tls_cert_file`` and ``tls_key_file`` (both or neither) make the gateway answer HTTPS only;
    ``tls_ca_file`` is whom the gateway trusts when it calls ``https://`` site URLs. ``log_format`` and
    ``metrics_bind``: docs/operations.md."""

    model_config = ConfigDict(extra="forbid")

    gateway_id: str = Field(default="gateway", pattern=NODE_ID_PATTERN)
    home: Path = Field(default_factory=default_home, description="Default: <RAGFED_DATA_DIR>/gateway.")
    model_id: str = Field(default="rag-fed", description="The model name clients pass and see.")
    audit_questions: Literal["hash", "text"] = Field(
        default="hash",
        description="Store each question's keyed hash (HMAC-SHA256 under <home>/audit.key; default) or its text "
        "in the audit log.",
    )
    default_k: PositiveInt = 5
    default_mode: SearchMode = "hybrid"  # federated hybrid kept 0.98-1.01 of centralized hybrid (docs/benchmarks.md)
    answers: AnswerSettings = Field(
        default_factory=AnswerSettings,
        description="How the gateway composes answers from the sites' evidence: strategy (extractive | "
        "grounded | generative), refusal threshold, lead length (docs/answers.md). Per request: rag_fed.strategy.",
    )
    site_answers: bool = Field(
        default=False,
        description=(
            "True: every site's local model also phrases a checked answer over its own evidence (slower: "
            "a model runs at each site before it replies). Default false: sites reply with evidence at "
            "once and only the gateway's model phrases. Sites under 'answer' egress always phrase. Per "
            "request: rag_fed.site_answers (chat) or site_answers (/v1/query)."
        ),
    )
    answers_per_caller: PositiveInt = Field(
        default=2,
        description="Answers (chat, or /v1/query with want_answer) one API key may have in progress; one more "
        "is refused with HTTP 429 and Retry-After before any site is asked (docs/operations.md, fair share).",
    )
    answers_in_flight: PositiveInt = Field(
        default=8,
        description="Answers all callers together may have in progress; one more is refused with 429. Chosen "
        "where p95 latency under load stops being flat (bench/soak.py --keys; docs/benchmarks.md).",
    )
    embedding_threads: int = Field(
        default=1, ge=0, description="CPU threads of the gateway's query embedder (0: torch's default)."
    )
    sketch_refresh_s: float = Field(default=300.0, gt=0)
    term_stats_refresh_s: float = Field(
        default=300.0, gt=0, description="How often the sites' term statistics are fetched again (seconds)."
    )
    health_timeout_s: float = Field(default=2.0, gt=0)
    admin_keys_push_s: float = Field(
        default=10.0,
        gt=0,
        description="How often every site is sent its list of active site-admin keys (seconds); keep it well "
        "under the sites' admin_keys_max_age_s (30 s), past which a site refuses gateway-issued keys.",
    )
    routing: RoutingPolicy = RoutingPolicy()
    embedder: EmbedderSettings = EmbedderSettings()
    generator: GeneratorSettings = GeneratorSettings()
    tls_ca_file: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that sign the sites' certificates (https:// site URLs); "
        "default: the system trust store. Verification is never turned off.",
    )

    @model_validator(mode="after")
    def _share_within_total(self) -> Self:
        if self.answers_per_caller > self.answers_in_flight:
            raise ValueError(
                f"answers_per_caller ({self.answers_per_caller}) exceeds answers_in_flight ({self.answers_in_flight})"
            )
        return self

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def public_key_file(self) -> Path:
        return self.keys_dir / "public.key"

    @property
    def database(self) -> Path:
        return self.home / "gateway.db"

    @property
    def registry_path(self) -> Path:
        return self.home / "registry.db"

    @property
    def term_key_file(self) -> Path:
        """The federation term key (``rag_fed.term_stats.key``): secret, 0600; delete it to rotate."""
        return self.home / "term_stats.key"

    @property
    def models_dir(self) -> Path:
        """The model registry (``rag_fed.federation.models.ModelRegistry``): embedder versions to roll out."""
        return self.home / "models"

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> GatewaySettings:
        """Read ``path`` (TOML; ``None``: no file) and the ``RAGFED_GATEWAY__*`` variables, and apply the
        non-``None`` ``overrides`` on top (rag_fed/settings_loader.py)."""
        return load_service_settings(cls, path, env_prefix=ENV_PREFIX, what="gateway", overrides=overrides)
