"""Communication-adaptive uploads: when a site skips, when the server aggregates, what it saves."""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.config import AdaptiveSettings
from rag_fed.training.adaptive import (
    UploadHistory,
    decide_upload,
    layer_update_norms,
    payload_bytes,
    quorum_reached,
)

pytestmark = pytest.mark.unit

SETTINGS = AdaptiveSettings(metric_threshold=0.01, norm_jump_factor=2.0, ema_decay=0.5)
NORMS = {"enc.layer.4": 1.0, "enc.layer.5": 1.0}


def test_first_round_always_uploads_and_starts_history() -> None:
    decision = decide_upload(SETTINGS, UploadHistory(), 0.40, NORMS)
    assert decision.upload
    assert decision.history.last_uploaded_metric == 0.40
    assert decision.history.norm_averages == NORMS


def test_stable_metric_and_norms_skip_the_upload() -> None:
    history = UploadHistory(0.40, NORMS)
    decision = decide_upload(SETTINGS, history, 0.405, {"enc.layer.4": 1.2, "enc.layer.5": 0.9})
    assert not decision.upload
    # The reference metric stays the last *uploaded* one, so slow drifts still trigger later.
    assert decision.history.last_uploaded_metric == 0.40
    assert decision.history.norm_averages["enc.layer.4"] == pytest.approx(1.1)


def test_metric_move_beyond_threshold_uploads() -> None:
    decision = decide_upload(SETTINGS, UploadHistory(0.40, NORMS), 0.38, NORMS)
    assert decision.upload
    assert "metric moved" in decision.reason
    assert decision.history.last_uploaded_metric == 0.38


def test_a_layer_norm_jump_uploads() -> None:
    decision = decide_upload(SETTINGS, UploadHistory(0.40, NORMS), 0.40, {"enc.layer.4": 1.0, "enc.layer.5": 2.5})
    assert decision.upload
    assert "enc.layer.5" in decision.reason


def test_history_survives_json() -> None:
    history = UploadHistory(0.25, {"a": 1.5})
    assert UploadHistory.from_json(history.to_json()) == history
    assert UploadHistory.from_json(UploadHistory().to_json()) == UploadHistory()


def test_layer_norms_group_tensors_by_transformer_layer() -> None:
    names = ["m.encoder.layer.5.attn.weight", "m.encoder.layer.5.attn.bias", "m.head.weight"]
    old = [np.zeros((2, 2)), np.zeros(2), np.zeros(3)]
    new = [np.full((2, 2), 1.0), np.full(2, 1.0), np.full(3, 2.0)]
    norms = layer_update_norms(names, new, old)
    assert norms == {
        "m.encoder.layer.5": pytest.approx(np.sqrt(6)),
        "m.head.weight": pytest.approx(np.sqrt(12)),
    }


@pytest.mark.parametrize(
    ("uploaded", "sampled", "fraction", "expected"),
    [(1, 2, 0.5, True), (1, 3, 0.5, False), (0, 2, 0.0001, False), (3, 3, 1.0, True), (2, 3, 2 / 3, True)],
)
def test_quorum(uploaded: int, sampled: int, fraction: float, expected: bool) -> None:
    assert quorum_reached(uploaded, sampled, fraction) is expected


def test_payload_bytes_counts_tensor_data() -> None:
    assert payload_bytes([np.zeros((10, 10), dtype=np.float32), np.zeros(5, dtype=np.float64)]) == 440
