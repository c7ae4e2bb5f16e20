"""What the training commands share: where runs live, registering a trained model, rolling it out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from api.cli.model_commands import coordinator_of
from rag_fed.cli.common import console

if TYPE_CHECKING:  # the rest is imported by the functions that use it: `ragfed --help` must not load it
    from api.gateway.settings import GatewaySettings
    from rag_fed.config import TrainingSettings

__all__ = ["quiet_flower", "register_model", "runs", "runs_dir", "send_rollout"]


def runs_dir(defaults: TrainingSettings, gateway: GatewaySettings) -> Path:
    return defaults.runs_dir or gateway.home / "training"


def runs(runs_dir: Path) -> list[Path]:
    """Run folders, oldest first (by the time their ledger was last written)."""
    if not runs_dir.is_dir():
        return []
    found = [path.parent for path in runs_dir.glob("*/ledger.json")]
    return sorted(found, key=lambda path: (path / "ledger.json").stat().st_mtime)


def register_model(gateway: GatewaySettings, model_dir: Path, source: str, note: str) -> str:
    from rag_fed.federation.models import ModelRegistry

    entry = ModelRegistry(gateway.models_dir).register(model_dir, source=source, note=note)
    return entry.version


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
