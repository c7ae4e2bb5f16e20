"""What an evaluation run produced: per-query records, per-system summaries and the run's provenance."""

from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["VERSIONED_DISTRIBUTIONS", "EvalResult", "QueryRecord", "SystemReport", "package_versions"]

VERSIONED_DISTRIBUTIONS = ("rag-fed", "torch", "faiss-cpu", "ranx", "numpy", "sentence-transformers", "flwr")


@dataclass(slots=True)
class QueryRecord:
    """One query as one system handled it: its ranking, costs, answer and per-query metric values.

    ``timings_ms`` holds the system's own stages plus the runner's wall-clock ``search_total`` (and
    ``answer_total`` when the system answered).
    """

    query_id: str
    doc_ids: list[str]
    scores: list[float]
    timings_ms: dict[str, float]
    bytes_sent: int
    bytes_received: int
    sites_contacted: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    answer: str | None = None
    cited_doc_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SystemReport:
    """One system's results: mean metrics, latency per stage, bytes and sites per query, all queries."""

    name: str
    index_seconds: float
    retrieval: dict[str, float]
    answers: dict[str, float]
    latency_ms: dict[str, dict[str, float]]
    bytes_sent: dict[str, float]
    bytes_received: dict[str, float]
    sites_contacted: dict[str, float]
    queries: list[QueryRecord]


@dataclass(slots=True)
class EvalResult:
    """A whole evaluation: provenance (command, versions, seed, dataset, time) and one report per system."""

    dataset: str
    dataset_path: str
    dataset_description: str
    n_docs: int
    n_queries: int
    k: int
    seed: int | None
    split_spec: str | None
    site_sizes: dict[str, int]
    command: str
    versions: dict[str, str]
    timestamp: str
    systems: list[SystemReport]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every number and string of the run as plain JSON-ready data."""
        return asdict(self)


def package_versions() -> dict[str, str]:
    """Python's version and the installed versions of the distributions a result depends on."""
    versions = {"python": platform.python_version()}
    for distribution in VERSIONED_DISTRIBUTIONS:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions
