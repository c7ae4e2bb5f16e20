"""The settings of federated fine-tuning (docs/training.md): where a site's pairs come from, the
strategy, privacy, adaptive uploads and secure aggregation. Part of :class:`rag_fed.config.Settings`
(``training``), which re-exports every name here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from rag_fed.packaged import PACKAGED

__all__ = [
    "AdaptiveSettings",
    "DpMode",
    "DpSettings",
    "PairMiningSettings",
    "PairSource",
    "PrivacyMode",
    "PrivacySettings",
    "SecureAggregationSettings",
    "StrategyName",
    "TrainingLoss",
    "TrainingSettings",
]

PairSource = Literal["auto", "feedback", "documents", "both"]


class PairMiningSettings(BaseModel):
    """Where a site's pairs come from, and how documents are mined. Length limits are in characters, after
    whitespace is collapsed.

    ``source``: ``feedback`` trains on the site's log of engineers' judgements only (an error when it
    yields none), ``documents`` on pairs mined from its documents only, ``both`` on the two together, and
    ``auto`` on the log when it yields pairs, else on documents. ``hard_negatives`` is how many of the
    site's own high-ranked rejects each feedback pair carries (:mod:`rag_fed.training.feedback_pairs`).
    Both defaults were chosen on the check questions of a split of Cranfield's training half
    (docs/benchmarks.md, "Learning from engineers' feedback"): 7 negatives beat 0, 1 and 3, and adding the
    mined document pairs lost what the feedback had gained. The evidence is weak: the held-out half did
    not confirm a gain at these settings. Each negative is one more passage per pair to
    embed: 7 make a training step about 4x as long as none.
    """

    min_query_chars: int = Field(default=8, ge=1)
    min_positive_chars: int = Field(default=30, ge=1)
    max_positive_chars: int = Field(default=2000, ge=1)
    max_pairs: int | None = Field(default=None, ge=1)
    # A title shared by many chunks is a vague query; a few of its chunks are enough.
    max_pairs_per_query: int = Field(default=3, ge=1)
    val_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 0
    # Cut a leading copy of the query from the passage (an abstract that repeats its title), so the
    # pair cannot be solved by string matching. Off by default: on Cranfield (lr 2e-5, one pass over
    # 1,240 pairs) keeping the copy gave nDCG@10 0.3808 and cutting it 0.3770 (base 0.3736).
    strip_query_prefix: bool = False
    # Inverse cloze pairs: up to this many sentences of each manual chunk, each as a query whose positive
    # is the chunk without that sentence (Lee et al., 2019). They add query-like pairs where headings are
    # few or vague; 0 mines headings only. Off by default: on Cranfield two per abstract gave nDCG@10 0.3790
    # against 0.3808 for titles alone (base 0.3736; docs/benchmarks.md).
    sentence_pairs: int = Field(default=0, ge=0)
    min_sentence_words: int = Field(default=6, ge=1)
    source: PairSource = "auto"
    hard_negatives: int = Field(default=7, ge=0)


StrategyName = Literal["fedavg", "fedprox", "fedadam", "fedmedian", "trimmed", "krum"]
# How pairs with hard negatives train (rag_fed.training.model): against the whole batch, or per example.
TrainingLoss = Literal["in_batch", "per_example"]
# Which differential privacy a run has (docs/training.md, section 4): ``local`` clips and noises each
# site's whole update (Flower's LocalDpMod: a guarantee about the site's whole dataset), ``dp_sgd`` clips
# each example's gradient and noises every step inside the site (Opacus: a guarantee about one pair).
PrivacyMode = Literal["local", "dp_sgd"]
DpMode = Literal["none", "local", "dp_sgd"]


class _NoiseSettings(BaseModel):
    """The clipping and noise values the configured DP (``DpSettings``) and a run's resolved DP
    (``PrivacySettings``) share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clipping_norm: float = Field(default=1.0, gt=0)
    noise_multiplier: float = Field(default=1.0, gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)


class PrivacySettings(_NoiseSettings):
    """Differential privacy of a run; one Rényi-DP accountant (Opacus's) reports epsilon at ``delta`` for
    each site after each round it took part in.

    ``local``: each site clips its update to ``clipping_norm`` (L2) and adds Gaussian noise of std
    ``noise_multiplier * clipping_norm`` before it leaves the site. ``dp_sgd``: each example's gradient
    is clipped to ``clipping_norm`` and every step adds noise of std ``noise_multiplier * clipping_norm``
    to the sum (``rag_fed.training.dp_sgd``); needs ``loss = "per_example"``."""

    mode: PrivacyMode = "local"


class DpSettings(_NoiseSettings):
    """``[training.dp]`` of ragfed.toml: the DP a ``ragfed train`` gets by default (``mode``), and the
    values ``--dp`` uses. ``target_epsilon`` (when set) picks the noise instead of ``noise_multiplier``.
    A clipping norm of 1.0 suits DP-SGD's per-example gradients; local DP on MiniLM's update needs a far
    smaller one (about 5e-4, docs/benchmarks.md)."""

    mode: DpMode = "none"
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


class TrainingSettings(BaseModel):
    """``[training]`` of ragfed.toml, and the settings of one fine-tuning run: ``ragfed train`` starts from
    these values, applies its flags, and hands the result to the coordinator, which sends it to each site
    as JSON (one ``ConfigRecord`` entry, ``rag_fed.training.client_app``). One type for both, so a default
    is chosen once (docs/training.md).

    ``runs_dir`` holds the coordinator's run folders (checkpoints and ledgers); ``None`` means
    ``<gateway home>/training``. ``pairs`` says how each site mines its pairs. ``dp`` is the DP a run gets
    by default and the values ``--dp`` uses; ``privacy`` is the DP of this run once ``ragfed train`` has
    resolved ``dp`` and its flags (a target epsilon turned into noise), ``None`` for none.
    ``adaptive_uploads`` and ``secure_aggregation`` switch those features on for a run; ``adaptive``
    and ``secagg`` are their values.

    ``train_top_layers`` fine-tunes only the top N transformer layers (``None`` = all weights,
    including the word embeddings). MiniLM-L6 has 6 layers of ~1.8 M weights each against 11.7 M in
    the embeddings, so N=2 sends ~3.5 M floats (14 MB) per update instead of 22.7 M (91 MB) and
    trains roughly 2x faster on CPU, at some cost in how far the model can move.

    ``loss`` is how pairs with hard negatives train (``rag_fed.training.model``): ``in_batch`` scores each
    query against every passage of its batch, ``per_example`` only against its own positive and hard
    negatives (each example's gradient then depends on it alone, as per-example clipping for DP-SGD needs).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = PACKAGED
    strategy: StrategyName = "fedavg"
    rounds: PositiveInt = 3
    local_epochs: PositiveInt = 1
    # 2e-5: on Cranfield, 1e-4 (3 passes) lowered nDCG@10 by 2.7 points; 2e-5 (one pass) raised it.
    learning_rate: float = Field(default=2e-5, gt=0)
    # 32: every training number in docs/benchmarks.md was measured at batch 32 (the run settings had drifted to 16).
    batch_size: int = Field(default=32, ge=2)
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
    torch_threads: PositiveInt = 1
    loss: TrainingLoss = "in_batch"
    runs_dir: Path | None = None
    pairs: PairMiningSettings = PairMiningSettings()
    dp: DpSettings = DpSettings()
    privacy: PrivacySettings | None = None
    adaptive_uploads: bool = False
    adaptive: AdaptiveSettings = AdaptiveSettings()
    secure_aggregation: bool = False
    secagg: SecureAggregationSettings = SecureAggregationSettings()
