"""Settings of one site's HTTP service: who it is, whom it trusts, what it lets out.

The site's models and data directory come from the usual ``rag_fed.config.Settings``; this adds the
service's own part, read from a TOML file (``--config``) and ``RAGFED_SITE__*`` variables and overridden by
command-line flags (rag_fed/settings_loader.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nacl.public import PublicKey
from pydantic import Field, PositiveInt

from rag_fed.crypto import load_public_key, public_key_from_text
from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.errors import ConfigError
from rag_fed.service_settings import ObservabilitySettings, ServerTlsSettings
from rag_fed.settings_loader import load_service_settings
from rag_fed.site.responder import ResponderSettings

__all__ = ["ADMIN_KEYS_FILE", "ENV_PREFIX", "SiteServiceSettings"]

ADMIN_KEYS_FILE = "admin-keys.sha256"
"""In the site's folder: one ``<key id> <sha256>`` line per admin key of this site's admin API."""

ENV_PREFIX = "RAGFED_SITE__"
"""``RAGFED_SITE__<FIELD>`` (nested with ``__``) sets a field over the TOML file and under the flags."""


class SiteServiceSettings(ServerTlsSettings, ObservabilitySettings, ResponderSettings):
    """``gateway_public_key`` (text) or ``gateway_key_file`` names the only sender this site accepts;
    egress, redaction, envelope age and the rest of the responder's part come from ``ResponderSettings``.

    ``tls_cert_file`` and ``tls_key_file`` (both or neither) make the service answer HTTPS only;
    ``log_format`` and ``metrics_bind``: docs/operations.md.
    """

    site_id: str = Field(pattern=NODE_ID_PATTERN)
    gateway_public_key: str | None = None
    gateway_key_file: Path | None = None
    max_upload_bytes: PositiveInt = 50 * 1024 * 1024
    admin_keys_file: Path | None = Field(default=None, description=f"Default: {ADMIN_KEYS_FILE} in the site's folder.")

    def admin_keys_path(self, site_root: Path) -> Path:
        return self.admin_keys_file or site_root / ADMIN_KEYS_FILE

    def gateway_key(self) -> PublicKey:
        if self.gateway_public_key:
            return public_key_from_text(self.gateway_public_key)
        if self.gateway_key_file is not None:
            return load_public_key(self.gateway_key_file)
        raise ConfigError(
            "the site service needs the gateway's public key: pass --gateway-key PATH, or set gateway_key_file or "
            "gateway_public_key in the config file. The key is made by `ragfed gateway init` on the gateway's "
            "machine, which prints its path (<gateway home>/keys/public.key, by default "
            "<RAGFED_DATA_DIR>/gateway/keys/public.key); copy that file to this machine"
        )

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> SiteServiceSettings:
        """Read ``path`` (TOML; ``None``: no file) and the ``RAGFED_SITE__*`` variables, and apply the
        non-``None`` ``overrides`` on top (rag_fed/settings_loader.py)."""
        return load_service_settings(cls, path, env_prefix=ENV_PREFIX, what="site service", overrides=overrides)
