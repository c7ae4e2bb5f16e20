"""Run federated fine-tuning in Flower's simulation engine: one virtual SuperNode per site.

:func:`run_federated_training` prepares a run directory (manifest + starting checkpoint), runs the
ServerApp and one ClientApp per site with ``flwr.simulation.run_simulation`` (Ray backend, one CPU
per site), then saves the final global weights as a sentence-transformers folder whose version is
``<folder name>@<weights digest>`` (what :class:`SentenceTransformerEmbedder` reports for it).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag_fed.config import TrainingSettings
from rag_fed.embedders.sentence_transformer import weights_digest
from rag_fed.errors import TrainingError
from rag_fed.training.client_app import build_client_app, sites_by_partition
from rag_fed.training.ledger import Ledger, RoundRecord, RunManifest
from rag_fed.training.model import get_named_weights, load_model, resolve_model_path, set_weights
from rag_fed.training.server_app import ServerPlan, build_server_app
from rag_fed.training.strategies import strategy_from_config

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "RoundCallback",
    "TrainingResult",
    "export_model",
    "prepare_run",
    "replay_rounds",
    "run_federated_training",
]

RoundCallback = Callable[[RoundRecord], None]

MODEL_DIR = "model"
_VERSION_HEX_CHARS = 12
# Ray's shared-memory store carries the weights to and from the virtual sites.
_OBJECT_STORE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class TrainingResult:
    run_dir: Path
    model_dir: Path
    version: str
    rounds: tuple[RoundRecord, ...]
    evaluation: Mapping[str, Mapping[str, float]]


def run_federated_training(
    site_pair_paths: Mapping[str, Path],
    config: TrainingSettings,
    out_dir: Path,
    *,
    num_cpus: int | None = None,
    on_round: RoundCallback | None = None,
) -> TrainingResult:
    """Train ``config.rounds`` rounds over the sites' pair files; write everything under ``out_dir``.

    ``on_round`` is called with each round's ledger record as soon as it is written."""
    sites = {site_id: Path(path) for site_id, path in site_pair_paths.items()}
    model = prepare_run(sites, config, out_dir)
    replay_rounds(out_dir, sites, 1, config.rounds, num_cpus=num_cpus, on_round=on_round)
    model_dir, version = export_model(out_dir, model=model)
    ledger = Ledger.open(out_dir)
    return TrainingResult(out_dir, model_dir, version, tuple(ledger.rounds), ledger.evaluation())


def prepare_run(site_pair_paths: Mapping[str, Path], config: TrainingSettings, out_dir: Path) -> SentenceTransformer:
    """Check the config, then write the run's manifest and starting checkpoint (round 0).

    The deployment engine runs the rounds from here (``flwr run`` with the app of
    :mod:`rag_fed.training.flower_app`); ``site_pair_paths`` may then be empty, since the pairs stay
    at the sites. Returns the loaded base model (for :func:`export_model`)."""
    sites = {site_id: Path(path) for site_id, path in site_pair_paths.items()}
    if sites:
        _check_sites(sites, config)
    strategy_from_config(config)  # refuses unsound combinations before anything is written
    model = load_model(config.base_model, config.max_seq_length, config.train_top_layers)
    initial = get_named_weights(model)
    manifest = RunManifest(
        run_id=f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}",
        base_model=str(resolve_model_path(config.base_model)),
        trainable_names=list(initial),
        config=config.model_dump(mode="json"),
        site_pair_paths={site_id: str(path) for site_id, path in sorted(sites.items())},
    )
    ledger = Ledger.create(out_dir, manifest)
    ledger.save_checkpoint(0, initial)
    return model


def replay_rounds(
    run_dir: Path,
    site_pair_paths: Mapping[str, Path],
    first_round: int,
    last_round: int,
    *,
    num_cpus: int | None = None,
    on_round: RoundCallback | None = None,
) -> None:
    """Simulate rounds ``first_round..last_round`` of the run in ``run_dir`` with these sites."""
    from flwr.simulation import run_simulation

    config = Ledger.open(run_dir).manifest.settings()
    sites = {site_id: Path(path) for site_id, path in site_pair_paths.items()}
    _check_sites(sites, config)
    _offline_environment()
    cpus = num_cpus or max(1, min(len(sites), os.cpu_count() or 1))
    backend_config = {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "address": "local",  # never join a Ray cluster someone else started on this machine
            "num_cpus": cpus,
            "object_store_memory": _OBJECT_STORE_BYTES,
            "logging_level": "ERROR",
        },
    }
    try:
        run_simulation(
            server_app=build_server_app(ServerPlan(run_dir, first_round, last_round, on_round=on_round)),
            client_app=build_client_app(sites_by_partition(sites), config.privacy),
            num_supernodes=len(sites),
            backend_name="ray",
            backend_config=backend_config,  # type: ignore[arg-type]
        )
    except TrainingError:
        raise
    except Exception as error:
        raise TrainingError(f"the federated simulation failed: {error}") from error
    finished = Ledger.open(run_dir).final_round()
    if finished != last_round:
        raise TrainingError(f"the simulation stopped after round {finished} of {last_round}; see the log")


def export_model(
    run_dir: Path, round_number: int | None = None, *, model: SentenceTransformer | None = None
) -> tuple[Path, str]:
    """Save the global weights after ``round_number`` (default: the last) as a model folder.

    ``model`` is the run's base model already loaded (its trainable tensors are overwritten)."""
    ledger = Ledger.open(run_dir)
    manifest = ledger.manifest
    config = manifest.settings()
    chosen = ledger.final_round() if round_number is None else round_number
    weights = ledger.load_checkpoint(chosen)
    if model is None:
        model = load_model(config.base_model, config.max_seq_length, config.train_top_layers)
    if list(get_named_weights(model)) != manifest.trainable_names:
        raise TrainingError("the base model's trainable tensors differ from the run's; wrong base_model?")
    set_weights(model, [weights[name] for name in manifest.trainable_names])
    model_dir = run_dir / MODEL_DIR / f"fed-{manifest.run_id}-r{chosen}"
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        model.save(str(model_dir), safe_serialization=True)
    except OSError as error:
        raise TrainingError(f"could not save the fine-tuned model to {model_dir}: {error}") from error
    return model_dir, f"{model_dir.name}@{weights_digest(model_dir)[:_VERSION_HEX_CHARS]}"


def _check_sites(sites: Mapping[str, Path], config: TrainingSettings) -> None:
    if len(sites) < config.min_sites:
        # Flower's sampler would wait forever for nodes that never come.
        raise TrainingError(f"{len(sites)} sites given but min_sites is {config.min_sites}")
    missing = [f"{site_id}: {path}" for site_id, path in sites.items() if not path.is_file()]
    if missing:
        raise TrainingError(f"training pairs missing for {', '.join(missing)}; mine pairs first")


def _offline_environment() -> None:
    # Set before Ray starts so its worker processes inherit them: no hub, no Flower telemetry, no
    # dependency installs by Flower's runtime.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
