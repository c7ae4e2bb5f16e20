"""Remove a site from a trained model: roll back before its first round, replay the rest without it.

:func:`remove_site` writes a *new* run directory (the source run is never modified): the rounds before
the site's first contribution are copied with their checkpoints, the later rounds are trained again
with the remaining sites only (the replay re-runs their local training on their own data), and
``unlearning.json`` records the proof: the source rounds the site was in, the round rolled back to,
the replayed rounds, the checkpoint hashes, and that no round of the new ledger lists the site.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rag_fed.errors import TrainingError
from rag_fed.training.ledger import Ledger, RoundRecord

__all__ = ["UNLEARNING_RECORD", "ReplayFn", "UnlearningResult", "remove_site"]

UNLEARNING_RECORD = "unlearning.json"

# (run_dir, site pair paths, first_round, last_round) -> None; appends those rounds to run_dir's ledger.
ReplayFn = Callable[[Path, Mapping[str, Path], int, int], None]


@dataclass(frozen=True)
class UnlearningResult:
    run_dir: Path
    removed_site: str
    rolled_back_to: int
    replayed_rounds: tuple[int, ...]
    model_dir: Path | None
    version: str | None


def remove_site(
    run_dir: Path,
    site_id: str,
    *,
    out_dir: Path | None = None,
    min_sites: int | None = None,
    replay: ReplayFn | None = None,
    export: bool = True,
) -> UnlearningResult:
    """Write ``out_dir`` (default ``<run_dir>-without-<site_id>``): the run as if ``site_id`` never
    took part. ``min_sites`` lowers the run's minimum when too few sites would remain; ``replay``
    replaces the Flower simulation (tests); ``export`` saves the new model and returns its version."""
    source = Ledger.open(run_dir)
    manifest = source.manifest
    source_rounds = source.rounds_with(site_id)
    rolled_back_to = source.last_checkpoint_before(site_id)
    final_round = source.final_round()
    remaining = {s: Path(p) for s, p in manifest.site_pair_paths.items() if s != site_id}
    config = dict(manifest.config)
    if min_sites is not None:
        config["min_sites"] = min_sites
    needed = int(config.get("min_sites", 2))
    if rolled_back_to < final_round and len(remaining) < needed:
        raise TrainingError(f"only {len(remaining)} sites would remain but the run needs {needed}; pass min_sites")
    target = out_dir or run_dir.with_name(f"{run_dir.name}-without-{site_id}")
    _clear_unfinished(target, run_dir)
    new_manifest = manifest.model_copy(
        update={
            "run_id": f"{manifest.run_id}-u{secrets.token_hex(2)}",
            "config": config,
            "site_pair_paths": {s: str(p) for s, p in remaining.items()},
            "parent_run": str(run_dir),
            "removed_sites": [*manifest.removed_sites, site_id],
        }
    )
    ledger = Ledger.create(target, new_manifest)
    for round_number in range(rolled_back_to + 1):
        ledger.save_checkpoint(round_number, source.load_checkpoint(round_number))
    for record in source.rounds:
        if record.round <= rolled_back_to:
            ledger.append(_without(record, site_id))
    replayed = tuple(range(rolled_back_to + 1, final_round + 1))
    if replayed:
        (replay or _simulate)(target, remaining, replayed[0], replayed[-1])
    _write_proof(ledger, source, site_id, source_rounds, rolled_back_to, replayed)
    model_dir, version = _export(target) if export else (None, None)
    return UnlearningResult(target, site_id, rolled_back_to, replayed, model_dir, version)


def _clear_unfinished(target: Path, source: Path) -> None:
    """An earlier unlearning of the same run that stopped before its proof was written (a crash, a
    site that failed in the replay) is removed, so that the operator can simply run it again."""
    if not (target / "ledger.json").is_file() or (target / UNLEARNING_RECORD).is_file():
        return
    if Ledger.open(target).manifest.parent_run == str(source):
        shutil.rmtree(target)


def _without(record: RoundRecord, site_id: str) -> RoundRecord:
    """A kept round minus the removed site's traces (its metrics or "no update" notes)."""
    return record.model_copy(
        update={
            "skipped": [s for s in record.skipped if s != site_id],
            "metrics": {s: m for s, m in record.metrics.items() if s != site_id},
            "bytes_uploaded": {s: b for s, b in record.bytes_uploaded.items() if s != site_id},
            "epsilon": {s: e for s, e in record.epsilon.items() if s != site_id},
        }
    )


def _write_proof(
    ledger: Ledger,
    source: Ledger,
    site_id: str,
    source_rounds: list[int],
    rolled_back_to: int,
    replayed: tuple[int, ...],
) -> None:
    records = ledger.rounds
    still_in = [record.round for record in records if site_id in record.sites]
    if still_in:
        raise TrainingError(f"site {site_id!r} still appears in rounds {still_in}; unlearning failed")
    if [record.round for record in records] != list(range(1, source.final_round() + 1)):
        raise TrainingError("the new ledger does not cover every round of the source run")
    proof = {
        "removed_site": site_id,
        "source_run": str(source.run_dir),
        "source_run_id": source.manifest.run_id,
        "new_run_id": ledger.manifest.run_id,
        "source_rounds_with_site": source_rounds,
        "rolled_back_to_round": rolled_back_to,
        "rolled_back_checkpoint_sha256": (
            records[rolled_back_to - 1].checkpoint_sha256 if rolled_back_to > 0 else "initial weights"
        ),
        "replayed_rounds": list(replayed),
        "rounds_with_site_now": still_in,
        "round_sites": {str(record.round): record.sites for record in records},
        "round_checkpoint_sha256": {str(record.round): record.checkpoint_sha256 for record in records},
    }
    (ledger.run_dir / UNLEARNING_RECORD).write_text(json.dumps(proof, indent=2), encoding="utf-8")


def _simulate(run_dir: Path, sites: Mapping[str, Path], first_round: int, last_round: int) -> None:
    from rag_fed.training.run import replay_rounds

    replay_rounds(run_dir, sites, first_round, last_round)


def _export(run_dir: Path) -> tuple[Path, str]:
    from rag_fed.training.run import export_model

    return export_model(run_dir)
