"""``ragfed gateway init``: the gateway's home and key pair, made before anything is served.

The sites need the gateway's public key before they can start (they accept sealed queries from that key
only), so an operator's first command makes it and says where it is.
"""

from __future__ import annotations

import typer

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings

__all__ = ["gateway_app", "register"]

gateway_app = typer.Typer(help="The gateway's home folder and key pair.", no_args_is_help=True)


@gateway_app.command("init")
@reports_errors
def gateway_init(home: HomeOption = None, config: ConfigOption = None) -> None:
    """Create the gateway's home, key pair and databases (an existing key pair is kept), and print the
    public key file every site service needs (``ragfed serve site --gateway-key PATH``)."""
    from api.gateway.home import init_home  # the gateway package loads FastAPI: only for this command

    settings = gateway_settings(config, home)
    made = init_home(settings)
    root = made.root.resolve()
    key_file = made.public_key_file.resolve()
    state = "created" if made.created_keys else "already there, key pair kept"
    lines = [
        f"gateway home: {root} ({state})",
        f"gateway public key file: {key_file}",
        f"gateway public key: {made.keys.public_key_text} (fingerprint {made.keys.fingerprint})",
        "each site service needs this file: copy it to the site's machine and start the site with",
        f"  ragfed serve site --site SITE_ID --gateway-key {key_file}",
    ]
    for line in lines:  # never wrapped: paths and keys are copied from here
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(gateway_app, name="gateway")
