"""What a site publishes about its keyword index for the federation's BM25 statistics, under its own
policy (``PublicationPolicy``: floor and noise), cached per version of the index
(docs/term-statistics.md).

Noise is drawn once per version of the index, whatever key or request asks: asking again for the same
counts must not buy fresh noise to average away. Each new noisy publication is counted in the site's
privacy ledger, and the publication reports the epsilon spent.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from indexes.term_counts import TermCounts
from rag_fed.errors import NotFoundError
from rag_fed.site.node import Site
from rag_fed.term_stats.privacy import LEDGER_FILE, PrivacyLedger, publication_cost
from rag_fed.term_stats.publication import (
    PhraseCounts,
    PublicationPolicy,
    TermStatsPublication,
    build_publication,
    key_id,
    noised,
)

__all__ = ["TermStatsPublisher"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Released:
    version: str
    counts: TermCounts
    epsilon_per_chunk: float | None = None
    delta_per_chunk: float | None = None
    epsilon_total: float | None = None


class TermStatsPublisher:
    """Builds ``site``'s publications under ``policy``. Thread-safe."""

    def __init__(self, site: Site, policy: PublicationPolicy, ledger: Path | None = None) -> None:
        self._site = site
        self.policy = policy
        self._ledger = PrivacyLedger(ledger or site.layout.root / LEDGER_FILE)
        self._lock = threading.Lock()
        self._released: _Released | None = None
        self._published: tuple[str, str, TermStatsPublication] | None = None  # (version, key id, publication)

    def publish(self, key: bytes, request_id: str) -> TermStatsPublication:
        """The site's counts hashed with ``key``, for the request ``request_id``."""
        if not self.policy.publish:
            raise NotFoundError(
                f"site {self._site.site_id} does not publish term statistics (term_stats.publish = false in its "
                "service settings): its keyword scores use its own counts"
            )
        with self._lock:
            released = self._release()
            wanted = key_id(key)
            cached = self._published
            if cached is None or cached[:2] != (released.version, wanted):
                publication = build_publication(
                    self._site.site_id, released.version, released.counts, key, self.policy, request_id=request_id
                ).model_copy(
                    update={
                        "epsilon_per_chunk": released.epsilon_per_chunk,
                        "delta_per_chunk": released.delta_per_chunk,
                        "epsilon_total": released.epsilon_total,
                    }
                )
                cached = self._published = (released.version, wanted, publication)
            return cached[2].model_copy(update={"request_id": request_id})

    def phrase_counts(self, question: str, request_id: str) -> PhraseCounts:
        """The chunks holding each phrase of several tokens of ``question``. Under a floor, a count below
        it is left out, as in publications (noise is not drawn per question: a site that adds noise
        counts no phrases, and the gateway estimates them)."""
        if not self.policy.publish or self.policy.epsilon is not None:
            counts: dict[str, int] = {}
            version = self._site.term_stats_version
        else:
            version, counted = self._site.phrase_counts(question)
            counts = {phrase: n for phrase, n in counted.items() if n >= self.policy.floor}
        return PhraseCounts(request_id=request_id, site_id=self._site.site_id, version=version, counts=counts)

    def _release(self) -> _Released:
        epsilon = self.policy.epsilon
        version, counts = self._site.term_counts(max_terms=epsilon is not None)
        if self._released is not None and self._released.version == version:
            return self._released
        if epsilon is None:
            self._released = _Released(version, counts)
            return self._released
        publications = self._ledger.record()
        cost = publication_cost(epsilon, self.policy.floor, counts.max_terms_per_chunk or 1, publications)
        _log.info(
            "term statistics of %s published with noise: epsilon %.3g per count, %.3g per chunk (delta %.2g) "
            "per publication; %.3g over all %d publications",
            version,
            cost.epsilon_per_count,
            cost.epsilon_per_chunk,
            cost.delta_per_chunk,
            cost.epsilon_total,
            publications,
        )
        self._released = _Released(
            version, noised(counts, epsilon), cost.epsilon_per_chunk, cost.delta_per_chunk, cost.epsilon_total
        )
        return self._released
