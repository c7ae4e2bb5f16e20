"""Differential privacy of site updates, and the one accountant that reports what it costs.

Site side, ``local`` mode: :func:`local_dp_mod` builds Flower's own ``LocalDpMod``, attached to the
ClientApp's train handler only. It clips the site's update (new weights minus the global weights it
received) to L2 norm ``C`` and adds Gaussian noise of std ``z * C`` before the update leaves the site.
``dp_sgd`` mode clips and noises inside the site's training instead (``rag_fed.training.dp_sgd``).

Coordinator side: :class:`SitePrivacyAccountant` keeps one Rényi-DP accountant per site (Opacus's
``RDPAccountant``) for either mode. ``local``: the guarantee is about the site's whole dataset; the
clipped updates of any two datasets differ by at most ``2C`` in L2 norm, so each round is charged as a
Gaussian mechanism of noise multiplier ``z / 2`` (sensitivity ``C``, no sampling amplification).
``dp_sgd``: the guarantee is about one training pair; each round charges the site's steps of the
subsampled Gaussian mechanism (noise ``z``, Poisson rate ``q``), which the site reports with its update.
Epsilon grows with every round the site joins and stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from rag_fed.config import PrivacySettings
from rag_fed.errors import TrainingError

__all__ = [
    "DP_SAMPLE_RATE_METRIC",
    "DP_STEPS_METRIC",
    "SitePrivacyAccountant",
    "local_dp_mod",
    "noise_for_epsilon",
    "noise_std",
]

# Rényi orders searched for the tightest epsilon: Opacus's defaults (1.1 to 63) widened at both ends, which
# local DP's one large-noise release per round (best order below 1.1) and small noise (above 63) reach.
_ORDERS = [1 + x / 100 for x in range(1, 10)] + [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 257))

# The metrics a DP-SGD site reports with its update, which the coordinator's accountant charges.
DP_STEPS_METRIC = "dp-steps"
DP_SAMPLE_RATE_METRIC = "dp-sample-rate"


def noise_std(settings: PrivacySettings) -> float:
    """Standard deviation of the Gaussian noise added to each coordinate of an update."""
    return settings.noise_multiplier * settings.clipping_norm


def local_dp_mod(settings: PrivacySettings) -> Any:
    """Flower's ``LocalDpMod`` configured to add noise of std ``noise_multiplier * clipping_norm``.

    ``LocalDpMod`` takes a per-round (epsilon, delta) and derives its noise with the classic Gaussian
    mechanism formula ``sensitivity * sqrt(2 ln(1.25/delta)) / epsilon``; we pick the epsilon that
    yields our std. That per-round epsilon is not the reported one: composition over rounds is done by
    :class:`SitePrivacyAccountant`, which is tighter.
    """
    from flwr.clientapp.mod import LocalDpMod

    per_round_epsilon = math.sqrt(2 * math.log(1.25 / settings.delta)) / settings.noise_multiplier
    return LocalDpMod(
        clipping_norm=settings.clipping_norm,
        sensitivity=settings.clipping_norm,
        epsilon=per_round_epsilon,
        delta=settings.delta,
    )


class SitePrivacyAccountant:
    """Epsilon at ``delta`` per site, composed over the rounds each site contributed an update to.

    One accountant for both modes: Opacus's ``RDPAccountant`` per site. ``local`` charges one Gaussian
    release of noise multiplier ``z / 2`` per round (no sampling); ``dp_sgd`` charges the round's steps
    as the site reported them (``dp-steps`` steps at Poisson rate ``dp-sample-rate``, noise ``z``)."""

    def __init__(self, settings: PrivacySettings) -> None:
        self._settings = settings
        self._accountants: dict[str, Any] = {}

    def record_round(
        self, site_ids: Iterable[str], metrics: Mapping[str, Mapping[str, float]] | None = None
    ) -> dict[str, float]:
        """Charge one round to each of ``site_ids``; return every known site's epsilon so far.
        ``metrics`` (each site's reply metrics) are needed in ``dp_sgd`` mode."""
        for site_id in site_ids:
            accountant = self._accountants.get(site_id) or self._new_accountant()
            if self._settings.mode == "local":
                accountant.step(noise_multiplier=self._settings.noise_multiplier / 2, sample_rate=1.0)
            else:
                steps, rate = _dp_sgd_steps(site_id, (metrics or {}).get(site_id, {}))
                for _ in range(steps):
                    accountant.step(noise_multiplier=self._settings.noise_multiplier, sample_rate=rate)
            self._accountants[site_id] = accountant
        return self.epsilons()

    def epsilon(self, site_id: str) -> float:
        accountant = self._accountants.get(site_id)
        if accountant is None:
            return 0.0
        value = float(accountant.get_epsilon(self._settings.delta, alphas=_ORDERS))
        if not math.isfinite(value):
            raise TrainingError(f"the privacy accountant returned a non-finite epsilon for {site_id!r}")
        return value

    def epsilons(self) -> dict[str, float]:
        return {site_id: self.epsilon(site_id) for site_id in sorted(self._accountants)}

    def _new_accountant(self) -> Any:
        from opacus.accountants import RDPAccountant

        return RDPAccountant()


def _dp_sgd_steps(site_id: str, metrics: Mapping[str, float]) -> tuple[int, float]:
    steps, rate = metrics.get(DP_STEPS_METRIC), metrics.get(DP_SAMPLE_RATE_METRIC)
    if steps is None or rate is None or steps < 0 or not 0 < rate <= 1:
        raise TrainingError(
            f"site {site_id!r} sent a DP-SGD update without its step count and sampling rate; "
            "its epsilon cannot be computed (is it running rag-fed with training.dp.mode = 'dp_sgd'?)"
        )
    return int(steps), float(rate)


def noise_for_epsilon(target_epsilon: float, rounds: int, clipping_norm: float, delta: float) -> PrivacySettings:
    """The smallest noise multiplier (to 1%) whose epsilon after ``rounds`` rounds stays at or under
    ``target_epsilon``, in ``local`` mode: what ``ragfed train --target-epsilon`` uses (DP-SGD:
    ``rag_fed.training.dp_sgd.noise_for_target_epsilon``)."""
    if target_epsilon <= 0 or rounds < 1:
        raise TrainingError("target epsilon must be > 0 and rounds >= 1")

    def epsilon(multiplier: float) -> float:
        accountant = SitePrivacyAccountant(
            PrivacySettings(clipping_norm=clipping_norm, noise_multiplier=multiplier, delta=delta)
        )
        for _ in range(rounds):
            accountant.record_round(["site"])
        return accountant.epsilon("site")

    low, high = 0.05, 0.1
    while epsilon(high) > target_epsilon:
        low, high = high, high * 2
        if high > 1e4:
            raise TrainingError(f"no noise level reaches epsilon {target_epsilon} in {rounds} rounds")
    while high / low > 1.01:
        middle = (low + high) / 2
        low, high = (low, middle) if epsilon(middle) <= target_epsilon else (middle, high)
    return PrivacySettings(clipping_norm=clipping_norm, noise_multiplier=high, delta=delta)
