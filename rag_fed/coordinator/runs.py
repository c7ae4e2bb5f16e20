"""Where the coordinator keeps its training runs (checkpoints and ledgers), one folder per run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_fed.config import TrainingSettings
    from rag_fed.coordinator.settings import GatewaySettings

__all__ = ["runs", "runs_dir"]


def runs_dir(defaults: TrainingSettings, gateway: GatewaySettings) -> Path:
    """``[training] runs_dir``, else ``<gateway home>/training``."""
    return defaults.runs_dir or gateway.home / "training"


def runs(runs_dir: Path) -> list[Path]:
    """Run folders, oldest first (by the time their ledger was last written)."""
    if not runs_dir.is_dir():
        return []
    found = [path.parent for path in runs_dir.glob("*/ledger.json")]
    return sorted(found, key=lambda path: (path / "ledger.json").stat().st_mtime)
