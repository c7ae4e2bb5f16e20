"""A training run's directory: per-round global checkpoints and the participation ledger.

Layout::

    <run_dir>/run.json                      RunManifest: base model, trainable tensor names, config, sites
    <run_dir>/ledger.json                   one RoundRecord per finished round (who took part, metrics, bytes)
    <run_dir>/checkpoints/round-0000.npz    the starting weights; round-000k.npz = global weights after k
    <run_dir>/evaluation.json               each site's validation metrics of the final weights

Unlearning reads this to find the last checkpoint before a site's first round.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from rag_fed.config import TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.files import replace_text

__all__ = ["Ledger", "RoundRecord", "RunManifest", "arrays_digest"]

_MANIFEST = "run.json"
_LEDGER = "ledger.json"
_CHECKPOINTS = "checkpoints"
_EVALUATION = "evaluation.json"
# numpy's stub types the keyword arrays of ``savez`` as its own flags; the call itself is standard.
_savez: Callable[..., None] = np.savez


class RunManifest(BaseModel):
    """What a run started from. ``site_pair_paths`` is only known when the coordinator ran the sites
    itself (simulation); unlearning needs it to replay rounds."""

    run_id: str
    base_model: str
    trainable_names: list[str]
    config: dict[str, Any] = Field(default_factory=dict)
    site_pair_paths: dict[str, str] = Field(default_factory=dict)
    parent_run: str | None = None
    removed_sites: list[str] = Field(default_factory=list)

    def settings(self) -> TrainingSettings:
        """The run's settings. A run written before issue 18 (by ``TrainingConfig``) has no
        ``adaptive_uploads``: its ``adaptive`` was ``None`` when off and the values when on."""
        values = dict(self.config)
        if "adaptive_uploads" not in values:
            adaptive = values.pop("adaptive", None)
            values["adaptive_uploads"] = adaptive is not None
            if adaptive is not None:
                values["adaptive"] = adaptive
        return TrainingSettings.model_validate(values)


class RoundRecord(BaseModel):
    """One finished round. ``sites`` are the sites whose update went into the aggregate; ``skipped``
    reported "no update" (communication-adaptive mode); ``failed`` replied with an error."""

    round: int = Field(ge=1)
    sites: list[str]
    skipped: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    aggregated: bool = True
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    bytes_uploaded: dict[str, int] = Field(default_factory=dict)
    bytes_saved: int = 0
    epsilon: dict[str, float] = Field(default_factory=dict)
    checkpoint: str
    checkpoint_sha256: str


class Ledger:
    """Read and append to a run directory. Writes are atomic (write to a temporary file, rename)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @classmethod
    def create(cls, run_dir: Path, manifest: RunManifest) -> Ledger:
        if (run_dir / _LEDGER).exists():
            raise TrainingError(f"{run_dir} already holds a training run; choose a new output directory")
        (run_dir / _CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        ledger = cls(run_dir)
        _write_json(run_dir / _MANIFEST, manifest.model_dump(mode="json"))
        _write_json(run_dir / _LEDGER, [])
        return ledger

    @classmethod
    def open(cls, run_dir: Path) -> Ledger:
        if not (run_dir / _LEDGER).is_file() or not (run_dir / _MANIFEST).is_file():
            raise TrainingError(f"{run_dir} is not a training run directory (no {_LEDGER} / {_MANIFEST})")
        return cls(run_dir)

    @property
    def manifest(self) -> RunManifest:
        return RunManifest.model_validate_json((self.run_dir / _MANIFEST).read_text(encoding="utf-8"))

    @property
    def rounds(self) -> list[RoundRecord]:
        raw = json.loads((self.run_dir / _LEDGER).read_text(encoding="utf-8"))
        return [RoundRecord.model_validate(item) for item in raw]

    def append(self, record: RoundRecord) -> None:
        records = self.rounds
        if records and record.round <= records[-1].round:
            raise TrainingError(f"round {record.round} is not after the ledger's last round")
        records.append(record)
        _write_json(self.run_dir / _LEDGER, [item.model_dump(mode="json") for item in records])

    def save_checkpoint(self, round_number: int, arrays: Mapping[str, NDArray[Any]]) -> tuple[str, str]:
        """Store the global weights after ``round_number`` (0 = start); returns (relative path, sha256)."""
        names = self.manifest.trainable_names
        if list(arrays) != names:
            raise TrainingError("checkpoint tensors do not match the run's trainable tensor names")
        relative = f"{_CHECKPOINTS}/round-{round_number:04d}.npz"
        target = self.run_dir / relative
        temporary = target.with_suffix(".tmp.npz")
        payload: dict[str, Any] = {name: np.asarray(value) for name, value in arrays.items()}
        _savez(str(temporary), **payload)
        os.replace(temporary, target)
        return relative, arrays_digest(arrays)

    def load_checkpoint(self, round_number: int) -> dict[str, NDArray[Any]]:
        path = self.run_dir / f"{_CHECKPOINTS}/round-{round_number:04d}.npz"
        if not path.is_file():
            raise TrainingError(f"no checkpoint for round {round_number} in {self.run_dir}")
        with np.load(path) as stored:
            return {name: stored[name] for name in self.manifest.trainable_names}

    def save_evaluation(self, metrics: Mapping[str, Mapping[str, float]]) -> None:
        """Each site's validation metrics of the final global weights."""
        _write_json(self.run_dir / _EVALUATION, {site: dict(values) for site, values in metrics.items()})

    def evaluation(self) -> dict[str, dict[str, float]]:
        path = self.run_dir / _EVALUATION
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def rounds_with(self, site_id: str) -> list[int]:
        """Rounds whose aggregate contains an update from ``site_id``."""
        return [record.round for record in self.rounds if site_id in record.sites]

    def last_checkpoint_before(self, site_id: str) -> int:
        """The round number of the last checkpoint untouched by ``site_id`` (0 = the starting weights)."""
        rounds = self.rounds_with(site_id)
        if not rounds:
            raise TrainingError(f"site {site_id!r} contributed to no round of the run in {self.run_dir}")
        return min(rounds) - 1

    def final_round(self) -> int:
        records = self.rounds
        return records[-1].round if records else 0


def arrays_digest(arrays: Mapping[str, NDArray[Any]] | Sequence[NDArray[Any]]) -> str:
    """A sha256 over tensor names, dtypes, shapes and bytes: the identity of a set of weights."""
    items = arrays.items() if isinstance(arrays, Mapping) else enumerate(arrays)
    digest = hashlib.sha256()
    for name, value in items:
        array = np.ascontiguousarray(value)
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _write_json(path: Path, payload: object) -> None:
    replace_text(path, json.dumps(payload, indent=2, sort_keys=True))
