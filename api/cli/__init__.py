"""The ``ragfed`` commands of the service layer: the gateway's home, its API keys, serving a site or the
gateway, and the demo. The coordinator's commands (federation, model, train) are in ``rag_fed/cli``.

Registered through the ``ragfed.commands`` entry point, so the core CLI never imports ``api``.
"""

from __future__ import annotations

import typer

from api.cli import demo, gateway_commands, service_commands

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    gateway_commands.register(app)
    service_commands.register(app)
    demo.register(app)
