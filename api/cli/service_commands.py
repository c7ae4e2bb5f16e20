"""Operator commands of the service layer: the gateway's API keys (its HTTP credentials, ``api/gateway/
keystore.py``) and serving a site or the gateway.

The API keys live in the gateway's home folder (``rag_fed/cli/gateway_home.py``). The site registry's
commands (``ragfed federation``) are in ``rag_fed/cli/federation_commands.py``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings, utc_minutes

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `ragfed --help` must not load it
    from rag_fed.coordinator.settings import GatewaySettings

__all__ = ["keys_app", "register", "serve_app"]

keys_app = typer.Typer(
    help="Gateway API keys (roles: engineer, evaluator, operator, site-admin).", no_args_is_help=True
)
serve_app = typer.Typer(help="Run a site service or the gateway.", no_args_is_help=True)


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

    settings = gateway_settings(config, home)
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
    for key in KeyStore(gateway_settings(config, home).database).list_keys():
        table.add_row(
            key.key_id,
            key.role.value,
            key.site_id or "",
            key.label,
            utc_minutes(key.created_at),
            utc_minutes(key.revoked_at) if key.revoked_at else "",
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

    settings = gateway_settings(config, home)
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


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(serve_app, name="serve")
