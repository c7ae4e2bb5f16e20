"""The contract the evaluation runner measures: a retrieval system, optionally one that also answers.

Centralized, federated, routed and local-best systems all implement :class:`RetrievalSystem`; the
runner never looks behind it. Timings and byte counts are what the system itself observed; the runner
adds its own wall-clock ``total`` around every call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from eval._records import EvalDoc

__all__ = ["AnsweringSystem", "RetrievalSystem", "SystemAnswer", "SystemResult"]


@dataclass(frozen=True, slots=True)
class SystemResult:
    """One search's outcome: ranked doc ids (best first) and what it cost.

    ``timings_ms`` maps stage names (``embed``, ``route``, ``site_search``, ``site_answer``, ``fuse``,
    ``answer_fusion``) to milliseconds; ``bytes_sent`` / ``bytes_received`` count what crossed the wire
    between the coordinator and sites (0 for an in-process centralized index); ``sites_contacted`` names
    the sites that were asked and ``sites_failed`` those of them that failed or timed out.
    """

    doc_ids: Sequence[str]
    scores: Sequence[float]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    bytes_sent: int = 0
    bytes_received: int = 0
    sites_contacted: Sequence[str] = ()
    sites_failed: Sequence[str] = ()

    def __post_init__(self) -> None:
        if len(self.doc_ids) != len(self.scores):
            raise ValueError(f"{len(self.doc_ids)} doc ids but {len(self.scores)} scores")


@dataclass(frozen=True, slots=True)
class SystemAnswer:
    """One pass of the whole query path: the ranking it retrieved (with every stage's cost) and the answer.

    ``cited_doc_ids`` are ids of documents given to ``index``; ``text`` is the answer as the user sees it
    (citation tags included: the runner strips them before scoring the text); ``cited_texts`` the text
    of what it cites as the system saw it (evidence spans, passages), where the system knows it;
    ``refused``: the system said the documents do not cover the question. ``retrieved`` is every
    ``(site, document)`` a passage retrieved for the question came from (what a citation may name);
    ``citations`` the ``(site, document)`` pairs the answer reports citing besides its text's tags.
    """

    result: SystemResult
    text: str
    cited_doc_ids: Sequence[str] = ()
    cited_texts: Sequence[str] = ()
    refused: bool = False
    retrieved: Sequence[tuple[str, str]] = ()
    citations: Sequence[tuple[str, str]] = ()


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
    """A retrieval system that also writes cited answers (the runner then scores answers too).

    ``answer`` runs the query path once, as a deployment does: the same ranking ``search`` would return
    for ``k``, plus the answer written from it, so one call yields both kinds of metrics and the cost of
    every stage.
    """

    def answer(self, query: str, k: int) -> SystemAnswer:
        """Retrieve up to ``k`` documents for ``query`` and answer it from what was retrieved."""
        ...
