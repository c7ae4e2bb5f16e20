"""DP-SGD with Opacus: per-example clipping applied, epsilon from the one accountant, options that do not mix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from rag_fed.config import PrivacySettings, TrainingSettings
from rag_fed.errors import ConfigError, TrainingError
from rag_fed.training.dp_sgd import noise_for_target_epsilon, sample_rate, steps_per_epoch, train_dp_sgd
from rag_fed.training.model import get_weights, load_model, train_local
from rag_fed.training.pairs import TrainingPair
from rag_fed.training.privacy import DP_SAMPLE_RATE_METRIC, DP_STEPS_METRIC, SitePrivacyAccountant
from rag_fed.training.strategies import check_combination, strategy_from_config
from tests.rag_fed.training.conftest import synthetic_pairs


def with_negatives(pairs: tuple[TrainingPair, ...], count: int = 2) -> tuple[TrainingPair, ...]:
    """Each pair gets the next pairs' positives as its own hard negatives."""
    return tuple(
        TrainingPair(
            pair.query, pair.positive, tuple(pairs[(i + k) % len(pairs)].positive for k in range(1, count + 1))
        )
        for i, pair in enumerate(pairs)
    )


DP_SGD = PrivacySettings(mode="dp_sgd", clipping_norm=1.0, noise_multiplier=1.1)

# -- options that do not mix (unit) ----------------------------------------------------------------


@pytest.mark.unit
def test_dp_sgd_with_the_in_batch_loss_is_refused_naming_the_options() -> None:
    config = TrainingSettings(privacy=DP_SGD, loss="in_batch")
    with pytest.raises(ConfigError, match=r"training\.dp\.mode = 'dp_sgd' needs training\.loss = 'per_example'"):
        strategy_from_config(config)


@pytest.mark.unit
def test_dp_sgd_with_fedprox_and_with_adaptive_uploads_is_refused() -> None:

    with pytest.raises(ConfigError, match="fedprox"):
        strategy_from_config(TrainingSettings(privacy=DP_SGD, loss="per_example", strategy="fedprox"))
    with pytest.raises(ConfigError, match="adaptive"):
        strategy_from_config(TrainingSettings(privacy=DP_SGD, loss="per_example", adaptive_uploads=True))


@pytest.mark.unit
def test_refusals_stay_training_errors_too() -> None:
    # Callers that caught TrainingError for a refused mix keep working.
    with pytest.raises(TrainingError):
        check_combination("fedmedian", secure_aggregation=True, num_sites=3)


@pytest.mark.unit
@pytest.mark.parametrize("strategy", ["fedavg", "fedadam", "fedmedian", "trimmed"])
def test_dp_sgd_combines_with_robust_rules_and_with_secure_aggregation(strategy: str) -> None:
    secure = strategy in ("fedavg", "fedadam")
    config = TrainingSettings(
        privacy=DP_SGD, loss="per_example", strategy=strategy, secure_aggregation=secure, min_sites=3
    )  # type: ignore[arg-type]
    assert strategy_from_config(config) is not None


# -- the accountant (unit) -------------------------------------------------------------------------


def _dp_sgd_metrics(steps: int, rate: float) -> dict[str, float]:
    return {DP_STEPS_METRIC: float(steps), DP_SAMPLE_RATE_METRIC: rate}


@pytest.mark.unit
def test_dp_sgd_epsilon_is_charged_per_reported_step_and_grows_with_rounds() -> None:
    accountant = SitePrivacyAccountant(DP_SGD)
    metrics = {"plant-a": _dp_sgd_metrics(20, 0.05), "plant-b": _dp_sgd_metrics(40, 0.05)}
    first = accountant.record_round(["plant-a", "plant-b"], metrics)
    second = accountant.record_round(["plant-a", "plant-b"], metrics)
    assert all(math.isfinite(value) and value > 0 for value in (*first.values(), *second.values()))
    assert second["plant-a"] > first["plant-a"]
    # Twice the steps in a round cost more than one round's worth.
    assert first["plant-b"] > first["plant-a"]
    assert first["plant-b"] == pytest.approx(second["plant-a"], rel=1e-9)


@pytest.mark.unit
def test_a_dp_sgd_update_without_its_step_count_cannot_be_accounted() -> None:
    with pytest.raises(TrainingError, match="step count"):
        SitePrivacyAccountant(DP_SGD).record_round(["plant-a"], {"plant-a": {"train-loss": 1.0}})


@pytest.mark.unit
def test_noise_for_a_target_epsilon_meets_it_over_the_whole_run() -> None:
    pairs, batch, epochs, rounds = 300, 16, 1, 2
    multiplier = noise_for_target_epsilon(8.0, 1e-5, pairs, batch, epochs, rounds)
    accountant = SitePrivacyAccountant(DP_SGD.model_copy(update={"noise_multiplier": multiplier}))
    metrics = {"s": _dp_sgd_metrics(steps_per_epoch(pairs, batch) * epochs, sample_rate(pairs, batch))}
    for _ in range(rounds):
        accountant.record_round(["s"], metrics)
    assert 7.5 < accountant.epsilon("s") <= 8.0
    # A smaller site samples each pair more often: the same target needs more noise.
    assert noise_for_target_epsilon(8.0, 1e-5, 100, batch, epochs, rounds) > multiplier


@pytest.mark.unit
def test_ragfed_train_chooses_the_dp_mode_from_options_then_settings() -> None:
    from rag_fed.cli.train_commands import _privacy
    from rag_fed.config import DpSettings, TrainingSettings
    from rag_fed.errors import InputError

    plain = TrainingSettings()
    assert _privacy(plain, False, None, None, None, None, None, 2) == (None, None)
    local, _ = _privacy(plain, True, None, 5e-4, 2.0, None, None, 2)
    assert local is not None and (local.mode, local.clipping_norm, local.noise_multiplier) == ("local", 5e-4, 2.0)
    configured = TrainingSettings(dp=DpSettings(mode="dp_sgd", target_epsilon=8.0))
    chosen, target = _privacy(configured, False, None, None, None, None, None, 2)
    assert chosen is not None and chosen.mode == "dp_sgd" and target == 8.0
    explicit, none = _privacy(configured, False, "dp_sgd", None, 0.7, None, None, 2)
    assert explicit is not None and explicit.noise_multiplier == 0.7 and none is None
    with pytest.raises(InputError, match="--dp-mode none"):
        _privacy(plain, False, "none", 1.0, None, None, None, 2)


# -- real training (integration) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> Any:
    import torch

    torch.set_num_threads(1)
    return load_model("packaged", max_seq_length=48, top_layers=1)


def _train(model: Any, pairs: tuple[TrainingPair, ...], clip: float, noise: float = 1.0) -> Any:
    privacy = PrivacySettings(mode="dp_sgd", clipping_norm=clip, noise_multiplier=noise)
    return train_dp_sgd(model, pairs, privacy=privacy, epochs=1, lr=1e-4, batch_size=4, seed=0)


@pytest.mark.integration
def test_every_example_gradient_is_clipped_to_the_norm(fresh: Any) -> None:
    pairs = with_negatives(synthetic_pairs(0, 16).train)
    before = get_weights(fresh)
    tight = _train(fresh, pairs, clip=1e-4)
    assert tight.steps == steps_per_epoch(len(pairs), 4) and tight.sample_rate == pytest.approx(4 / len(pairs))
    assert tight.clipped_fraction == 1.0
    # The sum of clipped gradients over a batch is at most batch size x the clipping norm.
    assert 0 < tight.max_clipped_mean_norm <= 1e-4 * (1 + 1e-3)
    assert any(not np.array_equal(a, b) for a, b in zip(before, get_weights(fresh), strict=True))
    loose = _train(fresh, pairs, clip=1e6)
    assert loose.clipped_fraction == 0.0
    assert loose.max_clipped_mean_norm > 1e-4


@pytest.mark.integration
def test_opacus_hooks_are_gone_after_a_dp_sgd_pass(fresh: Any) -> None:
    pairs = with_negatives(synthetic_pairs(1, 12).train)
    _train(fresh, pairs, clip=1.0)
    assert all(getattr(p, "grad_sample", None) is None for p in fresh.parameters())
    # The same (cached) model then trains without DP as before.
    assert train_local(fresh, pairs, epochs=1, lr=1e-5, batch_size=4, loss="per_example").steps >= 2
    assert all(getattr(p, "grad_sample", None) is None for p in fresh.parameters())


@pytest.mark.integration
def test_pairs_without_their_own_negatives_cannot_train_with_dp_sgd(fresh: Any) -> None:
    with pytest.raises(TrainingError, match="hard negatives"):
        _train(fresh, synthetic_pairs(0, 12).train, clip=1.0)


@pytest.mark.unit
def test_dp_sgd_noise_keeps_every_site_under_the_target_not_just_the_smallest() -> None:
    from rag_fed.cli.train_commands import _dp_sgd_noise

    # At batch 32, 156 pairs take 5 steps a round at rate 0.205 and 164 take 6 at 0.195: the larger spends more.
    training = TrainingSettings(privacy=DP_SGD, loss="per_example", batch_size=32, rounds=1)
    chosen = _dp_sgd_noise(training, DP_SGD, 8.0, [156, 164, 330])
    assert chosen.privacy is not None
    for pairs in (156, 164, 330):
        accountant = SitePrivacyAccountant(chosen.privacy)
        accountant.record_round(["s"], {"s": _dp_sgd_metrics(steps_per_epoch(pairs, 32), sample_rate(pairs, 32))})
        assert accountant.epsilon("s") <= 8.0
