"""The Flower App components for the deployment engine (``flwr run``), and the app folder to run.

``flwr run <app-dir> <connection>`` needs a folder with a ``pyproject.toml`` naming the ServerApp and
ClientApp. rag-fed is installed on the coordinator and at every site, so the folder holds only that
file: its components point here. :func:`write_flower_app` writes it; the run config carries the run
directory and the rounds, which the coordinator prepares first (:func:`rag_fed.training.run.prepare_run`).

At a site, ``flower-supernode --node-config 'site-id="plant-a" pairs-path="/data/plant-a/training/pairs.jsonl"'``
tells the ClientApp which site it is and where its own pairs are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp

# ``server_app`` and ``client_app`` are built lazily by ``__getattr__``; Flower checks names in ``__all__``.
__all__ = ["APP_NAME", "client_app", "server_app", "write_flower_app"]  # noqa: F822

APP_NAME = "ragfed-training"

_PYPROJECT = """\
# Written by rag-fed: the Flower App for federated fine-tuning of the embedder.
# rag-fed itself must be installed at the coordinator and at every site.
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "1.0.0"
description = "rag-fed federated fine-tuning of the embedding model"
license = "Apache-2.0"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "rag-fed"

[tool.flwr.app.components]
serverapp = "rag_fed.training.flower_app:server_app"
clientapp = "rag_fed.training.flower_app:client_app"

[tool.flwr.app.config]
run-dir = "{run_dir}"
first-round = {first_round}
last-round = {last_round}
"""


def write_flower_app(app_dir: Path, run_dir: Path, first_round: int, last_round: int) -> Path:
    """Write the app folder ``flwr run`` builds its package from; returns the folder."""
    app_dir.mkdir(parents=True, exist_ok=True)
    text = _PYPROJECT.format(
        name=APP_NAME, run_dir=str(run_dir.resolve()), first_round=first_round, last_round=last_round
    )
    (app_dir / "pyproject.toml").write_text(text, encoding="utf-8")
    return app_dir


def __getattr__(name: str) -> ServerApp | ClientApp:
    # Built on first access, so a SuperNode loading ``client_app`` never imports the coordinator's
    # code and the SuperLink loading ``server_app`` never imports the site's.
    if name == "server_app":
        from rag_fed.training.server_app import build_server_app_from_run_config

        return build_server_app_from_run_config()
    if name == "client_app":
        from rag_fed.training.client_app import build_client_app, site_from_node_config

        return build_client_app(site_from_node_config)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
