"""Entry point of the ``ragfed`` command: one Typer app with a sub-app per user role.

A site's commands (``site_commands``) and the coordinator's (``federation_commands``, ``model_commands``,
``train_commands``: the site registry, embedder versions, federated training and unlearning) are here.

The outer layers (``api`` for serving and the demo, ``eval`` for benchmarks) add their commands through
the ``ragfed.commands`` entry point group, so this core package never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from rag_fed.cli import federation_commands, model_commands, site_commands, train_commands
from rag_fed.cli.common import set_offline_defaults

__all__ = ["app"]

app = typer.Typer(
    help="rag-fed: federated retrieval-augmented generation for industrial maintenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
site_commands.register(app)
federation_commands.register(app)
model_commands.register(app)
train_commands.register(app)
for _plugin in sorted(entry_points(group="ragfed.commands"), key=lambda entry: entry.name):
    _plugin.load()(app)


@app.callback()
def _main() -> None:
    set_offline_defaults()
