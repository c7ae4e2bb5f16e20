"""Local differential privacy for site updates, and the accountant that reports what it costs.

Site side: :func:`local_dp_mod` builds Flower's own ``LocalDpMod``, attached to the ClientApp's train
handler only. It clips the site's update (new weights minus the global weights it received) to L2 norm
``C`` and adds Gaussian noise of std ``z * C`` before the update leaves the site.

Coordinator side: :class:`SitePrivacyAccountant` keeps one Rényi-DP accountant per site (Flower's
``RdpAccountant``, backed by Google's ``dp-accounting``) and composes one Gaussian release for each
round a site took part in. The guarantee is about the site's whole dataset: the clipped updates of any
two datasets differ by at most ``2C`` in L2 norm, so each release is charged as a Gaussian mechanism
of noise multiplier ``z / 2`` (sensitivity ``C``, add-or-remove accounting, no sampling amplification).
Epsilon grows with every round the site joins and stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rag_fed.errors import TrainingError
from rag_fed.training.settings import PrivacySettings

__all__ = ["SitePrivacyAccountant", "local_dp_mod", "noise_for_epsilon", "noise_std"]


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
    """Epsilon at ``delta`` per site, composed over the rounds each site contributed an update to."""

    def __init__(self, settings: PrivacySettings) -> None:
        self._settings = settings
        self._accountants: dict[str, Any] = {}

    def record_round(self, site_ids: Iterable[str]) -> dict[str, float]:
        """Charge one release to each of ``site_ids``; return every known site's epsilon so far."""
        from flwr.serverapp import GaussianPrivacyEvent

        event = GaussianPrivacyEvent(
            noise_multiplier=self._settings.noise_multiplier / 2, sample_size=1, population_size=1
        )
        for site_id in site_ids:
            accountant = self._accountants.get(site_id) or self._new_accountant()
            accountant.compose(event)
            self._accountants[site_id] = accountant
        return self.epsilons()

    def epsilon(self, site_id: str) -> float:
        accountant = self._accountants.get(site_id)
        if accountant is None:
            return 0.0
        value = float(accountant.get_epsilon(self._settings.delta))
        if not math.isfinite(value):
            raise TrainingError(f"the privacy accountant returned a non-finite epsilon for {site_id!r}")
        return value

    def epsilons(self) -> dict[str, float]:
        return {site_id: self.epsilon(site_id) for site_id in sorted(self._accountants)}

    def _new_accountant(self) -> Any:
        from flwr.serverapp import NeighboringRelation, PrivacyConfig, RdpAccountant, SamplingMethod

        config = PrivacyConfig(
            target_delta=self._settings.delta,
            population_size=1,
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        )
        return RdpAccountant(config)


def noise_for_epsilon(target_epsilon: float, rounds: int, clipping_norm: float, delta: float) -> PrivacySettings:
    """The smallest noise multiplier (to 1%) whose epsilon after ``rounds`` rounds stays at or under
    ``target_epsilon``: what ``ragfed train --target-epsilon`` uses."""
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
