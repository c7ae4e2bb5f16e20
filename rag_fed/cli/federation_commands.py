"""``ragfed federation``: register sites and their keys at the gateway (``remove-site``, which also unlearns
the site, is added by ``rag_fed/cli/train_commands.py`` from ``rag_fed/cli/unlearning_commands.py``).

The site registry lives in the gateway's home (``rag_fed/cli/gateway_home.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings, utc_minutes
from rag_fed.errors import ConfigError

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `ragfed --help` must not load it
    from rag_fed.federation import SiteRegistry

__all__ = ["federation_app", "register"]

federation_app = typer.Typer(help="Register sites and their keys at the gateway.", no_args_is_help=True)


def _registry(config: Path | None, home: Path | None) -> SiteRegistry:
    from rag_fed.federation import SiteRegistry

    return SiteRegistry(gateway_settings(config, home).registry_path)


def _public_key_text(value: str) -> str:
    """A key given inline, or ``@path`` to a ``public.key`` file."""
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            return path.read_text(encoding="ascii").strip()
        except OSError as error:
            raise ConfigError(f"cannot read public key file {path}: {error}") from None
    return value


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
        table.add_row(
            site.site_id, site.url, site.fingerprint, utc_minutes(site.registered_at), utc_minutes(site.key_added_at)
        )
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


def register(app: typer.Typer) -> None:
    app.add_typer(federation_app, name="federation")
