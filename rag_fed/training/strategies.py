"""Pick a Flower aggregation strategy by name, refusing combinations that would be silently wrong.

Every strategy returned is Flower's own Message-API class (``flwr.serverapp.strategy``):

==========  =====================  ==========================================================
name        Flower class           use
==========  =====================  ==========================================================
fedavg      FedAvg                 weighted mean of site weights (by ``num-examples``)
fedprox     FedProx                FedAvg + ``proximal-mu`` sent to sites (their loss adds it)
fedadam     FedAdam                server-side Adam on the averaged update (``eta`` = server lr)
fedmedian   FedMedian              coordinate-wise median: resists a minority of poisoned sites
trimmed     FedTrimmedAvg          mean after dropping the ``beta`` fraction at each end
krum        Krum                   the one update closest to its n-f-2 nearest neighbours
==========  =====================  ==========================================================

Refused (``TrainingOptionsError``, a ``ConfigError``), because the result would be silently wrong or the
privacy claim false:

* ``secure_aggregation`` with fedmedian, trimmed or krum: these rules need each site's own update
  (to take a median, drop extremes or measure distances), and SecAgg+ reveals only the sum.
* ``secure_aggregation`` with adaptive uploads: SecAgg+ masks cancel only when every site that set
  up the round sends its masked vector; a deliberate "no update" would look like a dropout each
  round, and skipping is itself visible to the coordinator.
* any DP (``privacy``, local or DP-SGD) with adaptive uploads: a site's choice to upload depends on its
  private validation metric and is a release the accountant does not cover.
* DP-SGD with ``loss = "in_batch"``: each example's loss depends on the other examples of its batch, so
  its gradient is not its own and clipping it bounds nothing; DP-SGD needs ``loss = "per_example"``.
* DP-SGD with ``fedprox``: the proximal term's gradient does not pass through Opacus's per-example
  hooks, so Opacus would silently drop it (the run would be FedAvg under another name).
* ``krum`` when fewer than ``2 * krum_malicious + 3`` sites take part (Krum's own requirement).

Allowed: secure aggregation with fedavg, fedprox, fedadam, with or without local DP (``LocalDpMod``
clips and noises inside the mask: distributed DP) or DP-SGD (noised inside training, then masked);
either DP with robust rules and with FedAdam (aggregation is post-processing, which keeps the guarantee;
local DP's noise of std ``z*C`` per coordinate blurs the distances Krum and the median rely on, DP-SGD's
noise is averaged over a site's steps and blurs them far less). Secure aggregation needs at least 3
sites per round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag_fed.config import StrategyName, TrainingLoss, TrainingSettings
from rag_fed.errors import TrainingError, TrainingOptionsError

if TYPE_CHECKING:
    from flwr.serverapp.strategy import Strategy

__all__ = ["check_combination", "make_strategy", "strategy_from_config"]

# Rules that need each site's own update (so SecAgg+, which shows only the sum, cannot serve them).
ROBUST_STRATEGIES: frozenset[str] = frozenset({"fedmedian", "trimmed", "krum"})


def check_combination(
    name: StrategyName,
    *,
    local_dp: bool = False,
    secure_aggregation: bool = False,
    adaptive: bool = False,
    num_sites: int = 2,
    krum_malicious: int = 0,
    dp_sgd: bool = False,
    loss: TrainingLoss = "in_batch",
) -> None:
    """Raise ``TrainingOptionsError`` naming the conflict and the fix, or return when the mix is sound."""
    if dp_sgd and loss != "per_example":
        raise TrainingOptionsError(
            "training.dp.mode = 'dp_sgd' needs training.loss = 'per_example': with the in-batch loss an "
            "example's gradient depends on the rest of its batch, so clipping it per example bounds nothing"
        )
    if dp_sgd and name == "fedprox":
        raise TrainingOptionsError(
            "training.dp.mode = 'dp_sgd' cannot run with strategy 'fedprox': Opacus clips per-example "
            "gradients and would silently drop the proximal term; use fedavg or fedadam"
        )
    if (local_dp or dp_sgd) and adaptive:
        raise TrainingOptionsError(
            "adaptive uploads leak whether a site's private metric moved; disable adaptive or differential privacy"
        )
    if secure_aggregation and name in ROBUST_STRATEGIES:
        raise TrainingOptionsError(
            f"strategy {name!r} needs each site's own update, which secure aggregation hides; "
            "use fedavg, fedprox or fedadam with secure aggregation"
        )
    if secure_aggregation and adaptive:
        raise TrainingOptionsError(
            "adaptive uploads cannot be combined with secure aggregation: a site that skips looks like a "
            "dropout to SecAgg+ and its skip is visible anyway; disable one"
        )
    if secure_aggregation and num_sites < 3:
        raise TrainingOptionsError(
            f"secure aggregation needs at least 3 sites per round (min_sites is {num_sites}): with 2, each "
            "site could subtract its own update from the sum and read the other's"
        )
    if name == "krum" and num_sites < 2 * krum_malicious + 3:
        raise TrainingOptionsError(
            f"krum tolerating {krum_malicious} malicious sites needs at least {2 * krum_malicious + 3} "
            f"sites per round, got {num_sites}"
        )


def make_strategy(
    name: StrategyName,
    *,
    min_sites: int = 2,
    fraction_train: float = 1.0,
    proximal_mu: float = 0.01,
    server_learning_rate: float = 1e-4,
    trimmed_beta: float = 0.2,
    krum_malicious: int = 0,
    local_dp: bool = False,
    secure_aggregation: bool = False,
    adaptive: bool = False,
    dp_sgd: bool = False,
    loss: TrainingLoss = "in_batch",
) -> Strategy:
    """Flower's strategy for ``name``; sites are sampled with ``fraction_train`` but at least
    ``min_sites``. Site-side evaluation rounds are off (each site reports validation metrics with
    its training reply), which halves the messages per round."""
    check_combination(
        name,
        local_dp=local_dp,
        secure_aggregation=secure_aggregation,
        adaptive=adaptive,
        num_sites=min_sites,
        krum_malicious=krum_malicious,
        dp_sgd=dp_sgd,
        loss=loss,
    )
    from flwr.serverapp import strategy as flower

    common: dict[str, Any] = {
        "fraction_train": fraction_train,
        "fraction_evaluate": 0.0,
        "min_train_nodes": min_sites,
        "min_evaluate_nodes": 0,
        "min_available_nodes": min_sites,
    }
    if name == "fedavg":
        return flower.FedAvg(**common)
    if name == "fedprox":
        return flower.FedProx(**common, proximal_mu=proximal_mu)
    if name == "fedadam":
        # Fine-tuning moves each weight by ~1e-4 a round; Flower's default tau (1e-3) would dwarf
        # sqrt(v) and stall the server optimiser, so tau is kept far below the update scale.
        # eta_l only matters to sites that read it; ours use their own learning rate.
        return flower.FedAdam(**common, eta=server_learning_rate, eta_l=server_learning_rate, tau=1e-9)
    if name == "fedmedian":
        return flower.FedMedian(**common)
    if name == "trimmed":
        return flower.FedTrimmedAvg(**common, beta=trimmed_beta)
    if name == "krum":
        return flower.Krum(**common, num_malicious_nodes=krum_malicious)
    raise TrainingError(f"unknown strategy {name!r}; choose fedavg, fedprox, fedadam, fedmedian, trimmed or krum")


def strategy_from_config(config: TrainingSettings) -> Strategy:
    return make_strategy(
        config.strategy,
        min_sites=config.min_sites,
        fraction_train=config.fraction_train,
        proximal_mu=config.proximal_mu,
        server_learning_rate=config.server_learning_rate,
        trimmed_beta=config.trimmed_beta,
        krum_malicious=config.krum_malicious,
        local_dp=config.privacy is not None and config.privacy.mode == "local",
        secure_aggregation=config.secure_aggregation,
        adaptive=config.adaptive_uploads,
        dp_sgd=config.privacy is not None and config.privacy.mode == "dp_sgd",
        loss=config.loss,
    )
