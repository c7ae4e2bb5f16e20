"""Communication-adaptive updates: a site sends its update only when it carries news.

Site side: :func:`decide_upload` compares the freshly trained model's validation MRR@10 with the value
at the site's last upload, and each layer's update norm (the norm of the weight change over the round,
i.e. the accumulated gradient steps) with that layer's moving average. If neither moved, the site
replies "no update": an empty ArrayRecord and ``uploaded = 0`` in its metrics.

Coordinator side: :func:`quorum_reached` says whether enough sites uploaded to aggregate at all;
otherwise the global weights stay as they were. :func:`payload_bytes` counts what was (not) sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rag_fed.config import AdaptiveSettings

__all__ = [
    "UploadDecision",
    "UploadHistory",
    "decide_upload",
    "layer_update_norms",
    "payload_bytes",
    "quorum_reached",
]

_LAYER = re.compile(r"^(.*?layer\.\d+)\.")


@dataclass(frozen=True)
class UploadHistory:
    """What a site remembers between rounds (kept in its Flower ``Context.state``)."""

    last_uploaded_metric: float | None = None
    norm_averages: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"metric": self.last_uploaded_metric, "norms": dict(self.norm_averages)})

    @classmethod
    def from_json(cls, text: str) -> UploadHistory:
        raw = json.loads(text)
        return cls(raw.get("metric"), {str(k): float(v) for k, v in raw.get("norms", {}).items()})


@dataclass(frozen=True)
class UploadDecision:
    upload: bool
    reason: str
    history: UploadHistory


def decide_upload(
    settings: AdaptiveSettings,
    history: UploadHistory,
    val_metric: float,
    layer_norms: Mapping[str, float],
) -> UploadDecision:
    """Upload on the first round, when the metric moved past the threshold, or on a norm jump."""
    jumped = [
        layer
        for layer, norm in layer_norms.items()
        if layer in history.norm_averages and norm > settings.norm_jump_factor * history.norm_averages[layer]
    ]
    averages = _updated_averages(settings.ema_decay, history.norm_averages, layer_norms)
    if history.last_uploaded_metric is None:
        return UploadDecision(True, "first upload", UploadHistory(val_metric, averages))
    moved = abs(val_metric - history.last_uploaded_metric)
    if moved > settings.metric_threshold:
        return UploadDecision(True, f"metric moved by {moved:.4f}", UploadHistory(val_metric, averages))
    if jumped:
        reason = f"update norm jumped in {', '.join(sorted(jumped))}"
        return UploadDecision(True, reason, UploadHistory(val_metric, averages))
    unchanged = UploadHistory(history.last_uploaded_metric, averages)
    return UploadDecision(False, "no significant change", unchanged)


def layer_update_norms(
    names: Iterable[str], new: Iterable[NDArray[Any]], old: Iterable[NDArray[Any]]
) -> dict[str, float]:
    """L2 norm of the weight change per transformer layer (tensors outside a layer keep their name)."""
    squares: dict[str, float] = {}
    for name, after, before in zip(names, new, old, strict=True):
        match = _LAYER.match(name)
        layer = match.group(1) if match else name
        delta = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)
        squares[layer] = squares.get(layer, 0.0) + float(np.sum(delta * delta))
    return {layer: float(np.sqrt(total)) for layer, total in squares.items()}


def quorum_reached(uploaded: int, sampled: int, min_fraction: float) -> bool:
    """True when at least ``min_fraction`` of the sampled sites sent an update (and at least one)."""
    return uploaded > 0 and sampled > 0 and uploaded / sampled >= min_fraction - 1e-12


def payload_bytes(arrays: Iterable[NDArray[Any]]) -> int:
    """Bytes of raw tensor data (what an ArrayRecord carries, before message framing)."""
    return sum(int(np.asarray(array).nbytes) for array in arrays)


def _updated_averages(decay: float, averages: Mapping[str, float], norms: Mapping[str, float]) -> dict[str, float]:
    updated = dict(averages)
    for layer, norm in norms.items():
        previous = averages.get(layer)
        updated[layer] = norm if previous is None else decay * previous + (1 - decay) * norm
    return updated
