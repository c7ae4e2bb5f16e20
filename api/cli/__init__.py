"""The ``ragfed`` commands of the service layer: the gateway's home, keys, the site registry, serving,
models, training and the demo.

Registered through the ``ragfed.commands`` entry point, so the core CLI never imports ``api``.
"""

from __future__ import annotations

import typer

from api.cli import demo, federation_commands, gateway_commands, model_commands, train_commands

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    gateway_commands.register(app)
    federation_commands.register(app)
    model_commands.register(app)
    train_commands.register(app)
    demo.register(app)
