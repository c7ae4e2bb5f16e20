"""Settings of a site host: one site-service process serving several sites, each under ``/sites/<site id>``.

A host's TOML holds the settings every site shares at its top level (any field of ``SiteServiceSettings``,
e.g. ``gateway_key_file`` and ``egress``) and one ``[[sites]]`` table per site, whose fields override
the shared ones for that site only (``site_id``, and e.g. its own ``egress``, ``admin_keys_file``,
``metrics_bind`` or ``data_dir``). The process-wide part (TLS, log format, tracing) is read from the top
level only: there is one server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from api.site_service.settings import ENV_PREFIX, SiteServiceSettings
from rag_fed.errors import ConfigError
from rag_fed.service_settings import ObservabilitySettings, ServerTlsSettings
from rag_fed.settings_loader import invalid_settings, merged, read_environment
from rag_fed.settings_loader import read_toml as read_toml_file

__all__ = ["HostedSite", "SiteHostSettings", "read_toml"]


_HOST_ONLY = ("tls_cert_file", "tls_key_file", "log_format", "tracing")


class HostedSite(BaseModel):
    """One site of a host: its service settings, and the data directory holding its folder (``None``: the
    process's ``data_dir``)."""

    settings: SiteServiceSettings
    data_dir: Path | None = None


class SiteHostSettings(ServerTlsSettings, ObservabilitySettings):
    """The server's own settings and the sites it serves (at least one, ids unique)."""

    sites: list[HostedSite]

    @classmethod
    def from_values(
        cls, values: dict[str, Any], site_tables: list[dict[str, Any]], from_env: Mapping[str, Any] | None = None
    ) -> SiteHostSettings:
        """``values``: the shared top level (with overrides applied); ``site_tables``: one table per site;
        ``from_env``: what of ``values`` came from ``RAGFED_SITE__*`` variables (named in errors)."""
        if values.get("metrics_bind"):
            raise ConfigError(
                "metrics_bind cannot be shared by the sites of a host (each would bind the same address): "
                "set it in a [[sites]] table, one address per site"
            )
        shared = {key: value for key, value in values.items() if key not in (*_HOST_ONLY, "sites")}
        sites: list[HostedSite] = []
        try:
            for table in site_tables:
                own = dict(table)
                data_dir = own.pop("data_dir", None)
                settings = SiteServiceSettings.model_validate({**shared, **own})
                sites.append(HostedSite(settings=settings, data_dir=data_dir))
            host = cls.model_validate({key: values[key] for key in _HOST_ONLY if key in values} | {"sites": sites})
        except ValidationError as error:
            raise invalid_settings("site host", error, from_env or {}, ENV_PREFIX, set()) from None
        if not sites:
            raise ConfigError("a site host needs at least one site: a [[sites]] table or a --site flag per site")
        repeated = [site_id for site_id, n in Counter(s.settings.site_id for s in sites).items() if n > 1]
        if repeated:
            raise ConfigError(f"site ids must be unique on a host; repeated: {', '.join(sorted(repeated))}")
        return host

    @classmethod
    def load(cls, path: Path | None, site_ids: list[str], **overrides: Any) -> SiteHostSettings:
        """Read ``path`` (TOML, optional; its ``[[sites]]`` tables), add one site per id in ``site_ids``
        (``--site`` flags) with the shared settings only, and apply the non-``None`` ``overrides`` to the
        shared top level. ``RAGFED_SITE__*`` variables set shared values too: over the file's top level,
        under the flags and the ``[[sites]]`` tables."""
        values = read_toml(path) if path is not None else {}
        tables = values.pop("sites", [])
        if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
            raise ConfigError(f"{path}: 'sites' must be an array of tables ([[sites]] with site_id = ...)")
        explicit = {key: value for key, value in overrides.items() if value is not None}
        from_env = read_environment(SiteServiceSettings, ENV_PREFIX)
        values = merged(values, from_env) | explicit
        from_env = {key: value for key, value in from_env.items() if key not in explicit}
        return cls.from_values(values, [*tables, *({"site_id": site_id} for site_id in site_ids)], from_env)


def read_toml(path: Path) -> dict[str, Any]:
    return read_toml_file(path, "site service")
