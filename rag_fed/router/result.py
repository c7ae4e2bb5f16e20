"""What one federated query produced: fused passages, the sites' answers, and how each site fared."""

from __future__ import annotations

from pydantic import BaseModel, Field

from rag_fed.types import Evidence, Passage, SearchMode, SiteAnswer, SiteStatus

__all__ = ["FederatedResult", "SiteOutcome"]


class SiteOutcome(BaseModel):
    """One site's part in a query. ``error`` says why a site failed, timed out or was skipped;
    ``embedder_version`` is the version the site said it serves (``None`` when it did not reply)."""

    site_id: str
    status: SiteStatus
    latency_ms: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    error: str | None = None
    sketch_score: float | None = None
    egress: str | None = None
    passages: int = 0
    fetched: int = 0
    """Passages of this site fetched in a second call (candidates that made the top k); its bytes are counted."""
    embedder_version: str | None = None
    term_stats: str | None = None
    """Keyword and hybrid modes: what the site's BM25 used: ``global`` (the federation's statistics, so
    its scores are a central index's), ``stale`` (the gateway's counts of this site were out of date),
    ``unusable`` (they could not be applied) or ``own`` (none were sent: the site has not published)."""

    @property
    def bytes_total(self) -> int:
        return self.bytes_sent + self.bytes_received


class FederatedResult(BaseModel):
    """The router's answer to one question: ``passages`` are fused across sites, best first."""

    request_id: str
    question: str
    mode: SearchMode
    k: int
    passages: list[Passage] = Field(default_factory=list)
    answers: list[SiteAnswer] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    """Every answering site's evidence (sites in id order); the answer composer ranks it."""
    sites: list[SiteOutcome] = Field(default_factory=list)
    elapsed_ms: float = 0.0
    embedder_version: str = ""
    """The version the question was embedded with first (sites serving another got their own)."""
    term_stats: str | None = None
    """Keyword and hybrid modes: ``global`` when every answering site scored BM25 with the federation's
    statistics (keyword scores compare across sites as in one central index), ``mixed``, or ``own``."""

    @property
    def answered(self) -> list[str]:
        return [site.site_id for site in self.sites if site.status == "answered"]

    @property
    def missing(self) -> list[SiteOutcome]:
        """Sites that were asked but did not answer (failed or timed out)."""
        return [site for site in self.sites if site.status in ("failed", "timed_out")]

    @property
    def bytes_total(self) -> int:
        return sum(site.bytes_total for site in self.sites)

    def ranked_answers(self) -> list[SiteAnswer]:
        """Site answers ordered by their site's best fused passage (the order fusion falls back in)."""
        first: dict[str, int] = {}
        for position, passage in enumerate(self.passages):
            first.setdefault(passage.citation.site_id, position)
        return sorted(self.answers, key=lambda answer: first.get(answer.site_id, len(self.passages)))
