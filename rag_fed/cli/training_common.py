"""What the training commands share: rolling a trained model out, and Flower's log kept quiet."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from rag_fed.cli.common import console
from rag_fed.coordinator.controls import coordinator_of

if TYPE_CHECKING:  # the rest is imported by the functions that use it: `ragfed --help` must not load it
    from rag_fed.coordinator.settings import GatewaySettings

__all__ = ["quiet_flower", "send_rollout"]


def send_rollout(gateway: GatewaySettings, version: str) -> None:
    """Ask every remaining registered site to re-embed its index with ``version``, then switch."""
    from rag_fed.federation.models import ModelRegistry

    results = coordinator_of(gateway).rollout(version, ModelRegistry(gateway.models_dir))
    table = Table("site", "rollout", "reason", title=f"rollout of {version}", title_justify="left")
    for result in results:
        table.add_row(result.site_id, result.outcome, escape(result.reason or ""))
    console.print(table)
    if any(result.outcome != "ok" for result in results):
        console.print(f"retry the sites that did not take it with [bold]ragfed model rollout {escape(version)}[/]")
    else:
        console.print("the remaining sites re-embed their index in the background, then switch")


def quiet_flower(verbose: bool) -> None:
    if not verbose:
        for name in ("flwr", "ray"):
            logging.getLogger(name).setLevel(logging.WARNING)
