"""Read a federated training log for the report's curves: a flat JSON list, or a training run's ledger.

Two shapes are accepted:

- a JSON list of ``{"round": int, "<metric>": number, ...}`` objects (any source);
- what ``ragfed train`` writes: a run directory or its ``ledger.json`` (one ``RoundRecord`` per round,
  with each site's metrics). Each round becomes the mean of every metric over the sites that reported
  it (``val-mrr@10``), each site's own value (``val-mrr@10[site-a]``) and the megabytes uploaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eval._records import input_error

__all__ = ["LEDGER_FILE", "load_training_log", "metric_family"]

LEDGER_FILE = "ledger.json"
# Bookkeeping numbers each site reports that are not training curves.
_NOT_CURVES = frozenset({"num-examples", "uploaded", "seconds"})


def metric_family(key: str) -> str:
    """``val-mrr@10[site-a]`` -> ``val-mrr@10``: the panel a flattened key is drawn in."""
    return key.split("[", 1)[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise input_error(path, None, "file not found") from error
    except json.JSONDecodeError as error:
        raise input_error(path, error.lineno, f"not valid JSON ({error.msg})") from error


def _is_ledger(entries: list[Any]) -> bool:
    return bool(entries) and all(isinstance(entry, dict) and "checkpoint" in entry for entry in entries)


def _from_ledger(path: Path, entries: list[Any]) -> list[dict[str, float]]:
    from pydantic import ValidationError

    from rag_fed.training.ledger import RoundRecord  # the ledger's own schema, loaded only for ledgers

    log: list[dict[str, float]] = []
    for number, entry in enumerate(entries):
        try:
            record = RoundRecord.model_validate(entry)
        except ValidationError as error:
            raise input_error(path, None, f"round entry {number} is not a ledger round record: {error}") from error
        point: dict[str, float] = {"round": float(record.round)}
        by_metric: dict[str, list[float]] = {}
        for site_id, metrics in sorted(record.metrics.items()):
            for metric, value in metrics.items():
                if metric not in _NOT_CURVES:
                    point[f"{metric}[{site_id}]"] = float(value)
                    by_metric.setdefault(metric, []).append(float(value))
        point.update({metric: sum(values) / len(values) for metric, values in by_metric.items()})
        point["upload-MB"] = sum(record.bytes_uploaded.values()) / 1e6
        log.append(point)
    return log


def _from_flat(path: Path, entries: list[Any]) -> list[dict[str, float]]:
    log: list[dict[str, float]] = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("round"), int):
            raise input_error(path, None, f"entry {number} is not an object with an integer 'round'")
        values = {key: value for key, value in entry.items() if key != "round"}
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
            raise input_error(path, None, f"entry {number} has a non-numeric metric value")
        log.append({"round": float(entry["round"]), **{key: float(v) for key, v in values.items()}})
    return log


def load_training_log(path: Path) -> list[dict[str, float]]:
    """The log at ``path`` (flat list, ledger file or run directory) as ``[{"round": r, key: value}]``."""
    if path.is_dir():
        path = path / LEDGER_FILE
    entries = _read_json(path)
    if not isinstance(entries, list):
        raise input_error(path, None, 'expected a JSON list of {"round": ..., "<metric>": ...} objects or a ledger')
    return _from_ledger(path, entries) if _is_ledger(entries) else _from_flat(path, entries)
