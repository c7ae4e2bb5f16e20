"""Local fine-tuning on the real packaged MiniLM: weight transport, training, FedProx, evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rag_fed.errors import TrainingError
from rag_fed.training.model import (
    evaluate,
    get_named_weights,
    get_weights,
    load_model,
    set_weights,
    train_local,
    trainable_names,
)
from tests.rag_fed.training.conftest import synthetic_pairs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model() -> Any:
    import torch

    torch.set_num_threads(1)
    return load_model("packaged", max_seq_length=64, top_layers=1)


@pytest.fixture()
def fresh(model: Any) -> Any:
    initial = get_weights(model)
    yield model
    set_weights(model, initial)


def test_only_the_top_layer_trains_and_the_pooler_never(fresh: Any) -> None:
    names = list(get_named_weights(fresh))
    assert names and all(".layer.5." in name for name in names)
    everything = trainable_names(fresh, None)
    assert any("word_embeddings" in name for name in everything)
    assert not any(".pooler." in name for name in everything)


def test_weights_round_trip_in_a_stable_order(fresh: Any) -> None:
    before = get_weights(fresh)
    shifted = [array + 0.5 for array in before]
    set_weights(fresh, shifted)
    after = get_weights(fresh)
    assert [a.shape for a in after] == [b.shape for b in before]
    assert all(np.array_equal(a, s) for a, s in zip(after, shifted, strict=True))
    with pytest.raises(TrainingError, match="arrays for"):
        set_weights(fresh, before[:-1])
    with pytest.raises(TrainingError, match="shape"):
        set_weights(fresh, [np.zeros(3, np.float32)] * len(before))


def test_training_moves_weights_and_fedprox_holds_them_closer(fresh: Any) -> None:
    split = synthetic_pairs(0, 40)
    start = get_weights(fresh)
    result = train_local(fresh, split.train, epochs=1, lr=5e-4, batch_size=8, seed=1)
    free_drift = sum(float(np.linalg.norm(a - b)) for a, b in zip(get_weights(fresh), start, strict=True))
    assert result.steps >= 3 and result.num_examples == len(split.train) and result.loss > 0
    set_weights(fresh, start)
    train_local(fresh, split.train, epochs=1, lr=5e-4, batch_size=8, seed=1, proximal_mu=50.0)
    prox_drift = sum(float(np.linalg.norm(a - b)) for a, b in zip(get_weights(fresh), start, strict=True))
    assert 0 < prox_drift < free_drift


def test_evaluate_reports_mrr_and_recall_in_range(fresh: Any) -> None:
    scores = evaluate(fresh, synthetic_pairs(1, 40).val)
    assert set(scores) == {"mrr@10", "recall@1"}
    assert 0.0 <= scores["recall@1"] <= scores["mrr@10"] <= 1.0
    assert evaluate(fresh, ()) == {"mrr@10": 0.0, "recall@1": 0.0}


def test_too_few_pairs_to_form_a_batch_is_an_error(fresh: Any) -> None:
    with pytest.raises(TrainingError, match="no batch"):
        train_local(fresh, synthetic_pairs(0, 10).val[:1], epochs=1, lr=1e-5, batch_size=8)
