"""What the coordinator's commands share: the ``--home`` and ``--config`` flags that find the gateway's
settings, and how they print a time.

The gateway's files (keys, API keys, site registry, models, training runs) live in its home folder:
``--home``, or ``home`` in the gateway config file given with ``--config``, or ``<RAGFED_DATA_DIR>/gateway``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # loaded by the commands that use it: `ragfed --help` must not load it
    from rag_fed.coordinator.settings import GatewaySettings

__all__ = ["ConfigOption", "HomeOption", "gateway_settings", "utc_minutes"]

HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Gateway home folder (default: <RAGFED_DATA_DIR>/gateway).")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Gateway TOML config file.")]


def gateway_settings(config: Path | None, home: Path | None) -> GatewaySettings:
    """The gateway's settings from ``--config`` (and its variables), with ``--home`` over them."""
    from rag_fed.coordinator.settings import GatewaySettings

    return GatewaySettings.load(config, home=home)


def utc_minutes(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")
