"""The gateway's sum of its sites' term statistics, and the statistics each query carries.

It keeps each site's latest publication and the running sum over sites of every hashed term's count, so
a query costs one HMAC and one dictionary look-up per term (well under a millisecond), whatever the
vocabulary. The gateway holds the key, counts and hashes, never a site's vocabulary in clear; it hashes
only the terms of the questions it is asked (docs/term-statistics.md).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence

from rag_fed.memo import BoundedMemo
from rag_fed.protocol import QueryTermStats
from rag_fed.term_stats.publication import KEY_BYTES, TermStatsPublication, key_id, term_hashes

__all__ = ["FederationTermStats"]

_HASH_CACHE = 50_000  # terms whose hashes are remembered (about 5 MB at most)


class FederationTermStats:
    """Publications by site and their sums. ``key`` is the federation's term key (random when not given:
    every site re-hashes with whatever key the gateway sends). Thread-safe."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key if key is not None else secrets.token_bytes(KEY_BYTES)
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a federation term key has {KEY_BYTES} bytes, got {len(self.key)}")
        self.key_id = key_id(self.key)
        self._lock = threading.Lock()
        self._sites: dict[str, TermStatsPublication] = {}
        self._by_site: dict[str, dict[int, int]] = {}
        self._totals: dict[int, int] = {}
        self._chunks = 0
        self._tokens = 0
        self._hash_of: BoundedMemo[str, int] = BoundedMemo(_HASH_CACHE)
        self._generation = 0

    @property
    def generation(self) -> int:
        """A number that changes whenever the sums do (a publication in or out): what the gateway keys the
        statistics it remembers per question by."""
        return self._generation

    @property
    def versions(self) -> dict[str, str]:
        """The version of each site's counts in the sums."""
        with self._lock:
            return {site_id: publication.version for site_id, publication in self._sites.items()}

    @property
    def publications(self) -> dict[str, TermStatsPublication]:
        with self._lock:
            return dict(self._sites)

    @property
    def chunks(self) -> int:
        return self._chunks

    def update(self, publication: TermStatsPublication) -> None:
        """Put a site's publication in place of its previous one."""
        if publication.key_id != self.key_id:
            raise ValueError(f"site {publication.site_id} hashed its terms with another key ({publication.key_id})")
        hashes, counts = publication.arrays()
        counted = dict(zip(hashes.tolist(), counts.tolist(), strict=True))
        with self._lock:
            self._drop(publication.site_id)
            for term, count in counted.items():
                self._totals[term] = self._totals.get(term, 0) + count
            self._by_site[publication.site_id] = counted
            self._sites[publication.site_id] = publication
            self._chunks += publication.chunks
            self._tokens += publication.tokens
            self._generation += 1

    def remove(self, site_id: str) -> None:
        """Take a site's counts out of the sums (it left the federation)."""
        with self._lock:
            self._drop(site_id)

    def retain(self, site_ids: Iterable[str]) -> None:
        """Keep only these sites' counts."""
        keep = set(site_ids)
        with self._lock:
            for site_id in [s for s in self._sites if s not in keep]:
                self._drop(site_id)

    def for_query(self, terms: Sequence[str]) -> tuple[int, int, dict[str, int]] | None:
        """``(N, total tokens, {term: chunks holding it})`` over every site's counts, or ``None`` when no
        site has published."""
        hashes = self._hashes(terms)
        with self._lock:
            if not self._sites:
                return None
            frequencies = {term: self._totals.get(h, 0) for term, h in zip(terms, hashes, strict=True)}
            return self._chunks, self._tokens, frequencies

    def query_stats(self, terms: Sequence[str]) -> Mapping[str, QueryTermStats]:
        """What each site that published gets with a question of these ``terms`` (empty: none published)."""
        totals = self.for_query(terms)
        if totals is None:
            return {}
        chunks, tokens, frequencies = totals
        versions = self.versions
        if not versions:
            return {}
        first = QueryTermStats(
            site_version=next(iter(versions.values())), chunks=chunks, tokens=tokens, frequencies=frequencies
        )
        # validated once; the sites' copies differ only in the (already validated) version of their counts
        return {site_id: first.model_copy(update={"site_version": version}) for site_id, version in versions.items()}

    def _hashes(self, terms: Sequence[str]) -> list[int]:
        """The terms' keyed hashes, remembered (a question's terms recur; the key never changes)."""
        with self._lock:
            known = self._hash_of
            new = list(dict.fromkeys(term for term in terms if term not in known))
            if not new:
                return [known[term] for term in terms]
            fresh = dict(zip(new, term_hashes(self.key, new).tolist(), strict=True))
            known.put_many(fresh.items())
            return [fresh[term] if term in fresh else known[term] for term in terms]

    def _drop(self, site_id: str) -> None:
        old = self._by_site.pop(site_id, None)
        publication = self._sites.pop(site_id, None)
        if old is not None:
            for term, count in old.items():
                left = self._totals[term] - count
                if left:
                    self._totals[term] = left
                else:
                    del self._totals[term]
        if publication is not None:
            self._chunks -= publication.chunks
            self._tokens -= publication.tokens
        if old is not None or publication is not None:
            self._generation += 1
