"""The contract the evaluation runner measures: a retrieval system, optionally one that also answers.

Centralized, federated, routed and local-best systems all implement :class:`RetrievalSystem`; the
runner never looks behind it. Timings and byte counts are what the system itself observed; the runner
adds its own wall-clock ``total`` around every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

from eval._records import EvalDoc

__all__ = ["AnsweringSystem", "RetrievalSystem", "SystemAnswer", "SystemResult"]


@dataclass(frozen=True, slots=True)
class SystemResult:
    """One search's outcome: ranked doc ids (best first) and what it cost.

    ``timings_ms`` maps stage names (e.g. ``embed``, ``route``, ``site_search``, ``fuse``) to
    milliseconds; ``bytes_sent`` / ``bytes_received`` count what crossed the wire between the
    coordinator and sites (0 for an in-process centralized index); ``sites_contacted`` names the sites
    that were asked.
    """

    doc_ids: Sequence[str]
    scores: Sequence[float]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    bytes_sent: int = 0
    bytes_received: int = 0
    sites_contacted: Sequence[str] = ()

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.scores):
            raise ValueError(f"{len(self.doc_ids)} doc ids but {len(self.scores)} scores")


class SystemAnswer(NamedTuple):
    """An answer's text and the doc ids it cites (unpacks as ``text, cited_doc_ids``)."""

    text: str
    cited_doc_ids: Sequence[str]


@runtime_checkable
class RetrievalSystem(Protocol):
    """A system under evaluation: index the corpus split into sites, then answer searches."""

    @property
    def name(self) -> str:
        """Short label used in reports, e.g. ``centralized`` or ``federated-top2``."""
        ...

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        """Ingest every site's documents; called once before any search."""
        ...

    def search(self, query: str, k: int) -> SystemResult:
        """Return up to ``k`` documents for ``query``, best first."""
        ...


@runtime_checkable
class AnsweringSystem(RetrievalSystem, Protocol):
    """A retrieval system that also writes cited answers (the runner then scores answers too)."""

    def answer(self, query: str) -> SystemAnswer:
        """Answer ``query``; ``cited_doc_ids`` are ids of documents given to ``index``."""
        ...
