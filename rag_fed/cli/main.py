"""Entry point of the ``ragfed`` command: one Typer app with a sub-app per user role."""

from __future__ import annotations

import typer

from rag_fed.cli import site_commands
from rag_fed.cli.common import set_offline_defaults

__all__ = ["app"]

app = typer.Typer(
    help="rag-fed: federated retrieval-augmented generation for industrial maintenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
site_commands.register(app)


@app.callback()
def _main() -> None:
    set_offline_defaults()
