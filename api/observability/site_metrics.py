"""A site service's metrics: sealed queries and the time of each stage, envelopes rejected and why,
ingests, and the index it serves (chunks, embedder version). One registry per instance."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from api.observability.http import LATENCY_BUCKETS, HttpMetrics
from rag_fed.errors import (
    EnvelopeError,
    ExpiredEnvelopeError,
    ForgedEnvelopeError,
    ReplayedEnvelopeError,
    TamperedEnvelopeError,
    WrongRecipientError,
)
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.site.ingest import FileResult

__all__ = ["REJECTION_REASONS", "SiteMetrics", "rejection_reason"]

REJECTION_REASONS: dict[type[EnvelopeError], str] = {
    ForgedEnvelopeError: "forged",
    TamperedEnvelopeError: "tampered",
    ReplayedEnvelopeError: "replayed",
    ExpiredEnvelopeError: "expired",
    WrongRecipientError: "wrong_site",
}


def rejection_reason(error: EnvelopeError) -> str:
    """``forged | tampered | replayed | expired | wrong_site``, or ``malformed`` (unknown version, too large)."""
    for cls in type(error).__mro__:
        reason = REJECTION_REASONS.get(cls)
        if reason is not None:
            return reason
    return "malformed"


class _LiveIndex:
    def __init__(self, site_id: str, chunks: Callable[[], int], version: Callable[[], str], egress: str) -> None:
        self._site_id, self._chunks, self._version, self._egress = site_id, chunks, version, egress

    def collect(self) -> Iterable[Metric]:
        chunks = GaugeMetricFamily(
            "ragfed_site_index_chunks", "Chunks in the index the site serves.", value=self._chunks()
        )
        info = GaugeMetricFamily(
            "ragfed_site_info",
            "The site served (value 1): its id, the embedder version of its index, its egress policy.",
            labels=["site", "embedder_version", "egress"],
        )
        info.add_metric([self._site_id, self._version(), self._egress], 1)
        return [chunks, info]


class SiteMetrics:
    """``registry`` holds everything the site's ``/metrics`` serves (HTTP requests included)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http = HttpMetrics(registry)
        self._queries = Counter(
            "ragfed_site_queries",
            "Sealed queries answered (answered, or failed: the site understood but could not serve), by mode.",
            ["status", "mode"],
            registry=registry,
        )
        self._stages = Histogram(
            "ragfed_site_stage_seconds",
            "Time of each stage of a query at the site: search, evidence, answer (the local model), "
            "total (open to seal).",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._rejected = Counter(
            "ragfed_site_envelopes_rejected",
            "Sealed messages refused before any work, by reason: forged, tampered, replayed, expired, "
            "wrong_site, malformed.",
            ["reason"],
            registry=registry,
        )
        self._files = Counter(
            "ragfed_site_ingest_files",
            "Files uploaded for ingest, by outcome: added, updated, unchanged, failed.",
            ["status"],
            registry=registry,
        )
        self._documents = Counter("ragfed_site_ingest_documents", "Documents written by ingests.", registry=registry)
        self._chunks = Counter("ragfed_site_ingest_chunks", "Chunks written by ingests.", registry=registry)

    def watch(self, site_id: str, chunks: Callable[[], int], version: Callable[[], str], egress: str) -> None:
        """Serve the live chunk count and embedder version of the site (read at each scrape)."""
        self.registry.register(_LiveIndex(site_id, chunks, version, egress))

    def query(self, query: SiteQuery, reply: SiteReply, seconds: float) -> None:
        """One sealed query answered (``rag_fed.site.responder.QueryObserver``)."""
        self._queries.labels(reply.status, query.mode).inc()
        for stage, millis in reply.timings_ms.items():
            self._stages.labels(stage).observe(millis / 1000)
        self._stages.labels("total").observe(seconds)

    @contextmanager
    def counting_rejections(self) -> Iterator[None]:
        """Count an ``EnvelopeError`` raised in the block by its reason, and let it go on."""
        try:
            yield
        except EnvelopeError as error:
            self._rejected.labels(rejection_reason(error)).inc()
            raise

    def ingested(self, result: FileResult) -> None:
        self._files.labels(result.status).inc()
        self._documents.inc(result.documents)
        self._chunks.inc(result.chunks)

    def ingest_failed(self) -> None:
        """An upload that raised before it produced a result (unsupported, too large, unreadable)."""
        self._files.labels("failed").inc()
