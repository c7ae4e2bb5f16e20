"""Operator commands: API keys, the site registry, and serving a site or the gateway.

The gateway's files (keys, API keys, registry) live in its home folder: ``--home``, or ``home`` in the
gateway config file given with ``--config``, or ``<RAGFED_DATA_DIR>/gateway``. ``federation remove-site`` unregisters a
site and unlearns it; it lives with the training commands (``api/cli/unlearning_commands.py``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from rag_fed.cli.common import console, reports_errors
from rag_fed.errors import ConfigError

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `ragfed --help` must not load it
    from api.gateway.settings import GatewaySettings
    from rag_fed.federation import SiteRegistry

__all__ = ["federation_app", "keys_app", "register", "serve_app"]

keys_app = typer.Typer(
    help="Gateway API keys (roles: engineer, evaluator, operator, site-admin).", no_args_is_help=True
)
federation_app = typer.Typer(help="Register sites and their keys at the gateway.", no_args_is_help=True)
serve_app = typer.Typer(help="Run a site service or the gateway.", no_args_is_help=True)

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Gateway home folder (default: <RAGFED_DATA_DIR>/gateway).")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Gateway TOML config file.")]


def _gateway_settings(config: Path | None, home: Path | None) -> GatewaySettings:
    from api.gateway.settings import GatewaySettings

    return GatewaySettings.load(config, home=home)


def _registry(config: Path | None, home: Path | None) -> SiteRegistry:
    from rag_fed.federation import SiteRegistry

    return SiteRegistry(_gateway_settings(config, home).registry_path)


def _public_key_text(value: str) -> str:
    """A key given inline, or ``@path`` to a ``public.key`` file."""
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            return path.read_text(encoding="ascii").strip()
        except OSError as error:
            raise ConfigError(f"cannot read public key file {path}: {error}") from None
    return value


@keys_app.command("create")
@reports_errors
def keys_create(
    role: Annotated[str, typer.Option("--role", "-r", help="engineer, evaluator, operator or site-admin.")],
    site: Annotated[str | None, typer.Option("--site", "-s", help="The site of a site-admin key.")] = None,
    label: Annotated[str, typer.Option("--label", help="Who the key is for.")] = "",
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key; it is printed once and only its SHA-256 is stored.

    A site-admin key works at its site's admin API once the site has the gateway's new key list: it is sent
    to the site at once (when the site is registered and up), and by the running gateway every few seconds.
    """
    from api.gateway.keystore import KeyStore

    settings = _gateway_settings(config, home)
    issued = KeyStore(settings.database).create(role, site, label)
    console.print(f"created {role} key {issued.key_id}" + (f" for site {site}" if site else ""))
    if site:
        _push_admin_keys(settings, site)
    console.print("key (shown once, store it now):")
    typer.echo(issued.key)


@keys_app.command("list")
@reports_errors
def keys_list(home: HomeOption = None, config: ConfigOption = None) -> None:
    """List API keys (ids, roles and sites; never the keys)."""
    from api.gateway.keystore import KeyStore

    table = Table("key id", "role", "site", "label", "created (UTC)", "revoked")
    for key in KeyStore(_gateway_settings(config, home).database).list_keys():
        table.add_row(
            key.key_id,
            key.role.value,
            key.site_id or "",
            key.label,
            _utc(key.created_at),
            _utc(key.revoked_at) if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
@reports_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id from `keys list`.")],
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke an API key: at once at the gateway; a site-admin key at its site too when the site is reached now,
    else within the site's admin_keys_max_age_s (30 s by default; docs/security.md)."""
    from api.gateway.keystore import KeyStore

    settings = _gateway_settings(config, home)
    store = KeyStore(settings.database)
    store.revoke(key_id)
    console.print(f"revoked {key_id}")
    site = store.key_info(key_id).site_id
    if site:
        _push_admin_keys(settings, site)


def _push_admin_keys(settings: GatewaySettings, site_id: str) -> None:
    """Send ``site_id`` the gateway's list of its admin keys now, and say whether it took it."""
    from api.gateway.admin_keys import AdminKeyDistributor
    from api.gateway.home import init_home
    from api.gateway.keystore import KeyStore
    from rag_fed.federation import SiteRegistry

    gateway = init_home(settings)
    registry = SiteRegistry(settings.registry_path)
    distributor = AdminKeyDistributor(
        KeyStore(settings.database), registry, gateway.keys, settings.gateway_id, settings.tls_ca_file
    )
    results = distributor.push([site_id])
    if not results:
        console.print(
            f"site {site_id} is not registered: it gets its admin keys from the gateway once registered "
            "(`ragfed federation register-site`)",
            highlight=False,
        )
    elif results[0].ok:
        console.print(f"site {site_id} now holds {results[0].keys} admin keys from the gateway", highlight=False)
    else:
        console.print(
            f"site {site_id} not reached now ({results[0].reason}); the running gateway sends it the keys "
            "every admin_keys_push_s, and the site refuses gateway keys once its list is older than "
            "admin_keys_max_age_s",
            highlight=False,
            soft_wrap=True,
        )


@federation_app.command("register-site")
@reports_errors
def register_site(
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    url: Annotated[str, typer.Option("--url", help="Base URL of the site service, e.g. http://10.0.0.5:8101.")],
    public_key: Annotated[
        str,
        typer.Option(
            "--public-key",
            help="The site's public key, or @path/to/public.key: `ragfed site init` prints it and writes it to "
            "<RAGFED_DATA_DIR>/<site>/keys/public.key on the site's machine.",
        ),
    ],
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Register a site: from now on the gateway queries it and accepts its replies."""
    site = _registry(config, home).register(site_id, url, _public_key_text(public_key))
    console.print(f"registered {site.site_id} at {site.url}, key fingerprint {site.fingerprint}")


@federation_app.command("list")
@reports_errors
def federation_list(home: HomeOption = None, config: ConfigOption = None) -> None:
    """List the registered sites with their URLs and key fingerprints."""
    sites = _registry(config, home).list()
    table = Table("site", "url", "key fingerprint", "registered (UTC)", "key since (UTC)")
    for site in sites:
        table.add_row(site.site_id, site.url, site.fingerprint, _utc(site.registered_at), _utc(site.key_added_at))
    console.print(table)
    console.print(f"{len(sites)} sites")


@federation_app.command("rotate-key")
@reports_errors
def rotate_key(
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    public_key: Annotated[str, typer.Option("--public-key", help="The new public key, or @path/to/public.key.")],
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Replace a site's key: only the new key is accepted from now on."""
    site = _registry(config, home).rotate_key(site_id, _public_key_text(public_key))
    console.print(f"{site.site_id} now uses key {site.fingerprint}")


_PASSED_ON: dict[str, Any] = {"allow_extra_args": True, "ignore_unknown_options": True}
"""The serve commands hand every argument, ``--help`` included, to the service's own parser (its
``__main__``), so each flag is declared once, there."""


@serve_app.command("site", context_settings=_PASSED_ON, add_help_option=False)
def serve_site(ctx: typer.Context) -> None:
    """Serve one site: sealed queries for the gateway, and the site admin API (HTTPS with --tls-cert/--tls-key).
    Several --site flags, or a --config with [[sites]] tables: one process hosting each site at /sites/<id>.
    Flags: ragfed serve site --help."""
    from api.site_service.__main__ import main as site_main

    sys.exit(site_main(ctx.args, prog="ragfed serve site"))


@serve_app.command("gateway", context_settings=_PASSED_ON, add_help_option=False)
def serve_gateway(ctx: typer.Context) -> None:
    """Serve the gateway: OpenAI-compatible chat, native query, operations; docs at /docs.

    HTTPS with --tls-cert/--tls-key; https:// sites are verified against --tls-ca (or tls_ca_file).
    Flags: ragfed serve gateway --help."""
    from api.gateway.__main__ import main as gateway_main

    sys.exit(gateway_main(ctx.args, prog="ragfed serve gateway"))


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(federation_app, name="federation")
    app.add_typer(serve_app, name="serve")
