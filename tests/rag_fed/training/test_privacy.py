"""Local DP: Flower's LocalDpMod clips and noises as configured; the accountant's epsilon grows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict

from rag_fed.config import PrivacySettings
from rag_fed.training.privacy import SitePrivacyAccountant, local_dp_mod, noise_for_epsilon, noise_std
from tests.rag_fed.training.conftest import instruction

pytestmark = pytest.mark.unit


def test_epsilon_is_finite_and_grows_with_each_round_a_site_joins() -> None:
    accountant = SitePrivacyAccountant(PrivacySettings(noise_multiplier=1.0, delta=1e-5))
    history = [accountant.record_round(["plant-a", "plant-b"]) for _ in range(5)]
    epsilons = [round_eps["plant-a"] for round_eps in history]
    assert all(math.isfinite(e) and e > 0 for e in epsilons)
    assert epsilons == sorted(epsilons) and len(set(epsilons)) == 5
    accountant.record_round(["plant-a"])
    assert accountant.epsilon("plant-a") > accountant.epsilon("plant-b") == epsilons[-1]
    assert accountant.epsilon("never-joined") == 0.0


def test_more_noise_costs_less_epsilon() -> None:
    quiet, loud = (
        SitePrivacyAccountant(PrivacySettings(noise_multiplier=0.8)),
        SitePrivacyAccountant(PrivacySettings(noise_multiplier=3.0)),
    )
    for _ in range(3):
        quiet.record_round(["s"])
        loud.record_round(["s"])
    assert loud.epsilon("s") < quiet.epsilon("s")


def _run_mod(settings: PrivacySettings, sent: np.ndarray, trained: np.ndarray) -> np.ndarray:
    sent_message = instruction(RecordDict({"arrays": ArrayRecord({"w": Array(sent)})}))
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})

    def site_training(message: Message, _: Context) -> Message:
        return Message(RecordDict({"arrays": ArrayRecord({"w": Array(trained)})}), reply_to=message)

    reply = local_dp_mod(settings)(sent_message, context, site_training)
    return reply.content.array_records["arrays"]["w"].numpy()


def test_flower_local_dp_mod_clips_the_update_to_the_norm() -> None:
    sent = np.zeros(1000, dtype=np.float64)
    trained = np.full(1000, 3.0)
    out = _run_mod(PrivacySettings(clipping_norm=1.0, noise_multiplier=1e-9), sent, trained)
    assert np.linalg.norm(out - sent) == pytest.approx(1.0, rel=1e-6)


def test_flower_local_dp_mod_adds_noise_of_multiplier_times_norm() -> None:
    settings = PrivacySettings(clipping_norm=0.5, noise_multiplier=2.0)
    sent = np.zeros(200_000, dtype=np.float64)
    # A tiny, non-zero update: Flower 1.41's clipping divides by the update norm (0 would raise).
    out = _run_mod(settings, sent, sent + 1e-9)
    assert noise_std(settings) == 1.0
    assert float(np.std(out)) == pytest.approx(1.0, rel=0.02)


def test_noise_for_a_target_epsilon_meets_it_and_is_not_wasteful() -> None:
    chosen = noise_for_epsilon(8.0, rounds=3, clipping_norm=0.1, delta=1e-5)
    assert chosen.clipping_norm == 0.1 and chosen.delta == 1e-5

    def epsilon_after_three(multiplier: float) -> float:
        accountant = SitePrivacyAccountant(PrivacySettings(noise_multiplier=multiplier, delta=1e-5))
        for _ in range(3):
            accountant.record_round(["s"])
        return accountant.epsilon("s")

    assert epsilon_after_three(chosen.noise_multiplier) <= 8.0 < epsilon_after_three(chosen.noise_multiplier * 0.97)
    # More rounds cost more privacy, so they need more noise for the same target.
    assert noise_for_epsilon(8.0, rounds=6, clipping_norm=0.1, delta=1e-5).noise_multiplier > chosen.noise_multiplier
