"""Local fine-tuning on the real packaged MiniLM: weight transport, training, FedProx, evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rag_fed.errors import TrainingError
from rag_fed.training.model import (
    _per_example_loss,
    evaluate,
    get_named_weights,
    get_weights,
    load_model,
    set_weights,
    train_local,
    trainable_names,
)
from rag_fed.training.pairs import TrainingPair
from tests.rag_fed.training.conftest import synthetic_pairs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model() -> Any:
    import torch

    torch.set_num_threads(1)
    return load_model("packaged", max_seq_length=64, top_layers=1)


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


def with_hard_negatives(pairs: tuple[TrainingPair, ...]) -> tuple[TrainingPair, ...]:
    """Each pair with two look-alike passages of its own unit that do not answer it."""
    return tuple(
        TrainingPair(
            pair.query,
            pair.positive,
            (pair.positive.replace(";", "; no fault found, not", 1), "Inspection checklist only: " + pair.query),
        )
        for pair in pairs
    )


def batch_loss(model: Any, pairs: tuple[TrainingPair, ...], loss: str = "in_batch") -> float:
    # A step this small leaves the weights as they were: the mean loss of the epoch's batches, as they are.
    return train_local(model, pairs, epochs=1, lr=1e-12, batch_size=8, seed=3, loss=loss).loss  # type: ignore[arg-type]


def test_hard_negatives_are_scored_not_ignored(fresh: Any) -> None:
    plain = synthetic_pairs(0, 40).train
    hard = with_hard_negatives(plain)
    in_batch_plain, in_batch_hard = batch_loss(fresh, plain), batch_loss(fresh, hard)
    per_example_hard = batch_loss(fresh, hard, "per_example")
    # The same batches with more candidates per query: a larger softmax denominator, a larger loss.
    assert in_batch_hard > in_batch_plain + 0.05
    # Its own 1 + 2 candidates only: below the in-batch loss over 8 * 3, yet not the 0 of a lone positive.
    assert 0.01 < per_example_hard < in_batch_hard
    # Without hard negatives the per-example option keeps the in-batch loss.
    assert batch_loss(fresh, plain, "per_example") == pytest.approx(in_batch_plain, rel=1e-6)


@pytest.mark.parametrize("loss", ["in_batch", "per_example"])
def test_training_with_hard_negatives_lowers_their_loss(fresh: Any, loss: str) -> None:
    pairs = with_hard_negatives(synthetic_pairs(1, 40).train)
    before = batch_loss(fresh, pairs, loss)
    result = train_local(fresh, pairs, epochs=3, lr=5e-4, batch_size=8, seed=1, loss=loss)  # type: ignore[arg-type]
    assert result.steps >= 9
    assert batch_loss(fresh, pairs, loss) < 0.8 * before


def test_an_examples_per_example_loss_does_not_depend_on_the_rest_of_its_batch(fresh: Any) -> None:
    import torch

    a, b, c = with_hard_negatives(synthetic_pairs(2, 12).train[:3])

    def losses(batch: list[TrainingPair]) -> list[float]:
        columns = [[p.query for p in batch], [p.positive for p in batch]]
        columns += [[p.negatives[i] for p in batch] for i in range(2)]
        fresh.eval()
        with torch.no_grad():
            return _per_example_loss(fresh, [fresh.preprocess(column) for column in columns]).tolist()

    assert losses([a, b])[0] == pytest.approx(losses([a, c])[0], abs=1e-5)
    assert losses([a, b])[1] != pytest.approx(losses([a, c])[1], abs=1e-3)
