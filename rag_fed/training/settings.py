"""Typed settings of a federated fine-tuning run, checked once before anything starts.

Flower carries settings between apps as string-keyed records; the coordinator serialises a
:class:`TrainingConfig` to JSON in one ``ConfigRecord`` entry and each side parses it back here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

__all__ = [
    "INSTRUCTION_CONFIG_KEY",
    "AdaptiveSettings",
    "DpMode",
    "DpSettings",
    "PrivacyMode",
    "PrivacySettings",
    "SecureAggregationSettings",
    "StrategyName",
    "TrainingConfig",
    "TrainingLoss",
]

# The ConfigRecord entry (in the coordinator's "config" record) that carries TrainingConfig as JSON.
INSTRUCTION_CONFIG_KEY = "training-config"

StrategyName = Literal["fedavg", "fedprox", "fedadam", "fedmedian", "trimmed", "krum"]
# How pairs with hard negatives train (rag_fed.training.model): against the whole batch, or per example.
TrainingLoss = Literal["in_batch", "per_example"]
ROBUST_STRATEGIES: frozenset[str] = frozenset({"fedmedian", "trimmed", "krum"})
# Which differential privacy a run has (docs/training.md, section 4): ``local`` clips and noises each
# site's whole update (Flower's LocalDpMod: a guarantee about the site's whole dataset), ``dp_sgd`` clips
# each example's gradient and noises every step inside the site (Opacus: a guarantee about one pair).
PrivacyMode = Literal["local", "dp_sgd"]
DpMode = Literal["none", "local", "dp_sgd"]


class PrivacySettings(BaseModel):
    """Differential privacy of a run; one Rényi-DP accountant (Opacus's) reports epsilon at ``delta`` for
    each site after each round it took part in.

    ``local``: each site clips its update to ``clipping_norm`` (L2) and adds Gaussian noise of std
    ``noise_multiplier * clipping_norm`` before it leaves the site. ``dp_sgd``: each example's gradient
    is clipped to ``clipping_norm`` and every step adds noise of std ``noise_multiplier * clipping_norm``
    to the sum (``rag_fed.training.dp_sgd``); needs ``loss = "per_example"``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: PrivacyMode = "local"
    clipping_norm: float = Field(default=1.0, gt=0)
    noise_multiplier: float = Field(default=1.0, gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class DpSettings(BaseModel):
    """``[training.dp]`` of ragfed.toml: the DP a ``ragfed train`` gets by default (``mode``), and the
    values ``--dp`` uses. ``target_epsilon`` (when set) picks the noise instead of ``noise_multiplier``.
    A clipping norm of 1.0 suits DP-SGD's per-example gradients; local DP on MiniLM's update needs a far
    smaller one (about 5e-4, docs/benchmarks.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: DpMode = "none"
    clipping_norm: float = Field(default=1.0, gt=0)
    noise_multiplier: float = Field(default=1.0, gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)
    target_epsilon: float | None = Field(default=None, gt=0)


class AdaptiveSettings(BaseModel):
    """Communication-adaptive uploads: a site uploads only when its validation MRR@10 moved by more
    than ``metric_threshold`` since its last upload, or some layer's update norm exceeds
    ``norm_jump_factor`` times that layer's moving average (decay ``ema_decay``). The server
    aggregates a round only when at least ``min_report_fraction`` of the sampled sites uploaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric_threshold: float = Field(default=0.005, ge=0)
    norm_jump_factor: float = Field(default=1.5, gt=1)
    ema_decay: float = Field(default=0.7, ge=0, lt=1)
    min_report_fraction: float = Field(default=0.5, gt=0, le=1)


class SecureAggregationSettings(BaseModel):
    """Flower's SecAgg+ (``SecAggPlusWorkflow`` + ``secaggplus_mod``): the coordinator learns only the
    sum of the sites' masked, quantised weights.

    Each weight is clipped to ``[-clipping_range, clipping_range]`` and quantised to
    ``quantization_range`` levels before masking; MiniLM's trainable weights stay well inside 8, and
    2**22 levels give a step of ~4e-6, far below what one round of fine-tuning moves a weight. A
    site's secret is split into ``num_shares`` shares (a fraction of the sampled sites, or a count)
    of which ``reconstruction_threshold`` (fraction of the shares) are needed to unmask a dropped
    site. Sites are weighted equally under SecAgg+: weighting by example counts would scale each
    site's weights down before quantisation and cost precision.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_shares: float = Field(default=1.0, gt=0)
    reconstruction_threshold: float = Field(default=0.67, gt=0, le=1)
    clipping_range: float = Field(default=8.0, gt=0)
    quantization_range: int = Field(default=2**22, gt=0)
    modulus_range: int = Field(default=2**32, gt=0)


class TrainingConfig(BaseModel):
    """Everything a run needs besides the sites' pair files.

    ``train_top_layers`` fine-tunes only the top N transformer layers (``None`` = all weights,
    including the word embeddings). MiniLM-L6 has 6 layers of ~1.8 M weights each against 11.7 M in
    the embeddings, so N=2 sends ~3.5 M floats (14 MB) per update instead of 22.7 M (91 MB) and
    trains roughly 2x faster on CPU, at some cost in how far the model can move.

    ``loss`` is how pairs with hard negatives train (``rag_fed.training.model``): ``in_batch`` scores each
    query against every passage of its batch, ``per_example`` only against its own positive and hard
    negatives (each example's gradient then depends on it alone, as per-example clipping for DP-SGD needs).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = "packaged"
    strategy: StrategyName = "fedavg"
    rounds: PositiveInt = 3
    local_epochs: PositiveInt = 1
    learning_rate: float = Field(default=2e-5, gt=0)
    batch_size: int = Field(default=16, ge=2)
    max_seq_length: PositiveInt = 128
    train_top_layers: int | None = Field(default=2, ge=1)
    max_train_pairs: PositiveInt | None = None
    max_val_pairs: PositiveInt = 256
    seed: int = 0
    min_sites: PositiveInt = 2
    fraction_train: float = Field(default=1.0, gt=0, le=1)
    round_timeout_s: float = Field(default=3600.0, gt=0)
    proximal_mu: float = Field(default=0.01, ge=0)
    server_learning_rate: float = Field(default=1e-4, gt=0)
    trimmed_beta: float = Field(default=0.2, gt=0, lt=0.5)
    krum_malicious: int = Field(default=0, ge=0)
    privacy: PrivacySettings | None = None
    secure_aggregation: bool = False
    secagg: SecureAggregationSettings = SecureAggregationSettings()
    adaptive: AdaptiveSettings | None = None
    torch_threads: PositiveInt = 1
    loss: TrainingLoss = "in_batch"
