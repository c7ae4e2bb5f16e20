"""The strategy factory: Flower's own classes, refused combinations, and robustness to one poisoned site."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import strategy as flower

from rag_fed.config import PrivacySettings, TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.training.strategies import make_strategy, strategy_from_config
from tests.rag_fed.training.conftest import instruction

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("fedavg", flower.FedAvg),
        ("fedprox", flower.FedProx),
        ("fedadam", flower.FedAdam),
        ("fedmedian", flower.FedMedian),
        ("trimmed", flower.FedTrimmedAvg),
        ("krum", flower.Krum),
    ],
)
def test_each_name_gives_flowers_class(name: str, cls: type) -> None:
    strategy = make_strategy(name, min_sites=3)  # type: ignore[arg-type]
    assert type(strategy) is cls
    assert strategy.min_train_nodes == 3
    assert strategy.fraction_evaluate == 0.0


def test_settings_reach_the_strategy() -> None:
    assert make_strategy("fedprox", proximal_mu=0.3).proximal_mu == 0.3  # type: ignore[attr-defined]
    assert make_strategy("trimmed", trimmed_beta=0.1).beta == 0.1  # type: ignore[attr-defined]
    assert make_strategy("fedadam", server_learning_rate=5e-4).eta == 5e-4  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["fedmedian", "trimmed", "krum"])
def test_robust_rules_refuse_secure_aggregation(name: str) -> None:
    with pytest.raises(TrainingError, match="secure aggregation hides"):
        make_strategy(name, min_sites=5, secure_aggregation=True)  # type: ignore[arg-type]


def test_secure_aggregation_runs_with_averaging_rules_on_three_sites_and_refuses_the_rest() -> None:
    for name, cls in [("fedavg", flower.FedAvg), ("fedprox", flower.FedProx), ("fedadam", flower.FedAdam)]:
        assert type(make_strategy(name, min_sites=3, secure_aggregation=True)) is cls  # type: ignore[arg-type]
    assert isinstance(make_strategy("fedavg", min_sites=3, secure_aggregation=True, local_dp=True), flower.FedAvg)
    with pytest.raises(TrainingError, match="at least 3 sites"):
        make_strategy("fedavg", min_sites=2, secure_aggregation=True)
    with pytest.raises(TrainingError, match="cannot be combined with secure aggregation"):
        make_strategy("fedavg", min_sites=3, secure_aggregation=True, adaptive=True)


def test_local_dp_with_adaptive_uploads_is_refused_from_config_too() -> None:
    with pytest.raises(TrainingError, match="adaptive"):
        make_strategy("fedavg", local_dp=True, adaptive=True)
    config = TrainingSettings.model_validate({"privacy": {}, "adaptive_uploads": True})
    with pytest.raises(TrainingError):
        strategy_from_config(config)


def test_local_dp_is_allowed_with_robust_rules_and_fedadam() -> None:
    config = TrainingSettings(strategy="fedmedian", privacy=PrivacySettings())
    assert isinstance(strategy_from_config(config), flower.FedMedian)
    assert isinstance(make_strategy("fedadam", local_dp=True), flower.FedAdam)


def test_krum_needs_enough_sites_for_its_malicious_bound() -> None:
    with pytest.raises(TrainingError, match="at least 5"):
        make_strategy("krum", min_sites=4, krum_malicious=1)
    make_strategy("krum", min_sites=5, krum_malicious=1)


def _reply(node: int, weights: np.ndarray) -> Message:
    sent = instruction(RecordDict({"config": ConfigRecord({})}), node_id=node)
    content = RecordDict(
        {
            "arrays": ArrayRecord({"layer.weight": Array(weights.astype(np.float32))}),
            "metrics": MetricRecord({"num-examples": 100, "train-loss": 1.0}),
        }
    )
    return Message(content, reply_to=sent)


HONEST_MEAN = np.linspace(0.5, 1.5, 16)


def _poisoned_round() -> list[Message]:
    rng = np.random.default_rng(0)
    honest = [HONEST_MEAN + rng.normal(0, 0.02, HONEST_MEAN.shape) for _ in range(3)]
    attacker = -10.0 * HONEST_MEAN  # sign-flipped and scaled
    return [_reply(i + 1, w) for i, w in enumerate([*honest, attacker])]


def _aggregate(name: str, **options: float) -> np.ndarray:
    strategy = make_strategy(name, min_sites=4, **options)  # type: ignore[arg-type]
    arrays, _ = strategy.aggregate_train(1, _poisoned_round())
    assert arrays is not None
    return arrays["layer.weight"].numpy()


def _distance(weights: np.ndarray) -> float:
    return float(np.linalg.norm(weights - HONEST_MEAN) / np.linalg.norm(HONEST_MEAN))


def test_fedavg_is_dragged_far_by_one_poisoned_site() -> None:
    assert _distance(_aggregate("fedavg")) > 2.0


@pytest.mark.parametrize(
    ("name", "options"),
    [("fedmedian", {}), ("trimmed", {"trimmed_beta": 0.25}), ("krum", {"krum_malicious": 0})],
)
def test_robust_rules_stay_near_the_honest_mean(name: str, options: dict[str, float]) -> None:
    # Krum with 3 honest + 1 attacker cannot promise f=1 (needs 5 sites); with f=0 it still picks
    # the update closest to its 2 nearest neighbours, which is an honest one.
    assert _distance(_aggregate(name, **options)) < 0.05
