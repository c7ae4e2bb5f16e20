"""The gateway's side of federation-wide BM25 statistics (docs/term-statistics.md): fetching the sites'
sealed publications, summing them (``FederationTermStats``), giving each keyword or hybrid query the
statistics of its own terms, and noticing from the replies which sites' counts are out of date.

A site gets statistics only once it has published: a site of an older version (which refuses unknown
query fields) never publishes, so it is asked as before and scores with its own counts; the result says
so for every site (``SiteOutcome.term_stats``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal, Protocol, runtime_checkable

from indexes.term_counts import QueryTerms
from rag_fed.errors import InputError, RagFedError
from rag_fed.memo import BoundedMemo
from rag_fed.protocol import MAX_QUERY_TERM_STATS, QueryTermStats, SiteQuery, SiteReply
from rag_fed.router.merge import order_ties
from rag_fed.term_stats import FederationTermStats, TermStatsPublication, TermStatsRequest
from rag_fed.term_stats.publication import PhraseCounts
from rag_fed.types import Passage, SearchMode

__all__ = [
    "GatewayTermStats",
    "TermStatsClient",
    "TermStatsSummary",
    "fill_candidates",
    "is_stub",
    "summarise",
    "term_stats_of",
    "with_term_stats",
]

_log = logging.getLogger(__name__)

_PHRASE_CACHE = 10_000
TermStatsSummary = Literal["global", "mixed", "own"]
"""Over the answering sites of a keyword or hybrid query: all scored with the federation's statistics,
some did, or none did."""


@runtime_checkable
class TermStatsClient(Protocol):
    """A site that hands out its term statistics for a sealed ``TermStatsRequest``."""

    @property
    def site_id(self) -> str: ...

    async def fetch_term_stats(self, sealed: bytes, timeout_s: float) -> bytes: ...


class GatewayTermStats:
    """Publications of the sites, their sums and the query terms' statistics. ``seal`` seals a payload to
    a site; ``open_from`` opens a site's sealed payload (checking it came from that site)."""

    def __init__(
        self,
        seal: Callable[[bytes, str], bytes],
        open_from: Callable[[bytes, str], bytes],
        federation: FederationTermStats | None = None,
    ) -> None:
        self.federation = federation or FederationTermStats()
        self._seal = seal
        self._open_from = open_from
        self._tokenizer = QueryTerms()
        self._refreshing: set[str] = set()
        self._phrases: BoundedMemo[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], dict[str, int]]
        self._phrases = BoundedMemo(_PHRASE_CACHE)
        self._per_question: BoundedMemo[tuple[str, int], Mapping[str, QueryTermStats]]
        self._per_question = BoundedMemo(_PHRASE_CACHE)
        self._background: set[asyncio.Task[dict[str, str | None]]] = set()

    async def refresh(self, clients: Iterable[object], timeout_s: float = 10.0) -> dict[str, str | None]:
        """Fetch the publications of these clients' sites; ``site_id -> error`` (``None``: updated). A site
        whose publication cannot be fetched keeps its previous one (its replies say when it is stale)."""
        sources = [c for c in clients if isinstance(c, TermStatsClient)]
        errors = await asyncio.gather(*(self._fetch(c, timeout_s) for c in sources))
        return {client.site_id: error for client, error in zip(sources, errors, strict=True)}

    def refresh_later(self, clients: Iterable[object], timeout_s: float = 10.0) -> None:
        """Refresh these sites in the background (once at a time per site)."""
        wanted = [c for c in clients if isinstance(c, TermStatsClient) and c.site_id not in self._refreshing]
        if not wanted:
            return
        self._refreshing.update(c.site_id for c in wanted)
        task = asyncio.get_running_loop().create_task(self.refresh(wanted, timeout_s))
        self._background.add(task)

        def done(finished: asyncio.Task[dict[str, str | None]]) -> None:
            self._background.discard(finished)
            self._refreshing.difference_update(c.site_id for c in wanted)

        task.add_done_callback(done)

    def for_query(self, question: str, mode: SearchMode) -> Mapping[str, QueryTermStats]:
        """What each site that published gets with this question (nothing in dense mode), without the
        counts of its phrases of several tokens (``with_phrases`` adds them)."""
        return self._for_phrases(self._tokenizer.phrases(question), mode)

    def _for_phrases(
        self, phrases: list[tuple[str, tuple[str, ...]]], mode: SearchMode
    ) -> Mapping[str, QueryTermStats]:
        if mode == "dense" or not self.federation.versions:
            return {}
        terms = list(dict.fromkeys(token for _, tokens in phrases for token in tokens))
        if len(terms) > MAX_QUERY_TERM_STATS:  # more than a query can carry: the sites use their own
            return {}
        return self.federation.query_stats(terms)

    async def with_phrases(
        self, question: str, mode: SearchMode, clients: Mapping[str, object], timeout_s: float
    ) -> Mapping[str, QueryTermStats]:
        """``for_query``, and when the question has phrases of several tokens (codes, hyphenated words),
        their counts summed over the sites that published: asked of the sites for this question, one
        short sealed round trip at once to all (remembered while no site's index changes). A site that
        does not answer in ``timeout_s`` leaves the phrases to the sites' estimate.

        What a question gets is remembered until the sums change (``FederationTermStats.generation``):
        questions recur, and tokenising, hashing and building the sites' statistics cost more per query than
        a look-up."""
        if mode == "dense":
            return {}
        remembered = (question, self.federation.generation)  # read before the sums it keys
        known = self._per_question.get(remembered)
        if known is not None:
            return known
        tokenised = self._tokenizer.phrases(question)  # once per question: the terms and the phrases
        stats = self._for_phrases(tokenised, mode)
        phrases = [phrase for phrase, tokens in tokenised if len(tokens) > 1]
        if not stats or not phrases:
            return self._per_question.put(remembered, stats)
        versions = self.federation.versions
        key = (tuple(phrases), tuple(sorted(versions.items())))
        counted = self._phrases.get(key)
        if counted is None:
            sources = [clients[site_id] for site_id in sorted(versions) if site_id in clients]
            counted = await self._count_phrases(question, phrases, sources, timeout_s)
            if counted is not None:
                self._phrases.put(key, counted)
        if counted is None:  # a site did not answer: ask again next time
            return stats
        if counted:
            stats = {site_id: s.model_copy(update={"phrases": counted}) for site_id, s in stats.items()}
        return self._per_question.put(remembered, stats)

    def forget_questions(self) -> None:
        """Forget what every question got, phrase counts included: the next asking of each is a first one."""
        self._per_question.clear()
        self._phrases.clear()

    async def _count_phrases(
        self, question: str, phrases: list[str], clients: list[object], timeout_s: float
    ) -> dict[str, int] | None:
        """The sum of the sites' counts of ``phrases``; ``None`` unless every site answered."""
        sources = [c for c in clients if isinstance(c, TermStatsClient)]
        if len(sources) != len(clients):
            return None
        replies = await asyncio.gather(*(self._phrase_counts(c, question, timeout_s) for c in sources))
        if any(reply is None for reply in replies):
            return None
        return {phrase: sum(reply.get(phrase, 0) for reply in replies if reply is not None) for phrase in phrases}

    async def _phrase_counts(self, client: TermStatsClient, question: str, timeout_s: float) -> dict[str, int] | None:
        request = TermStatsRequest.for_key(self.federation.key, uuid.uuid4().hex)
        request = request.model_copy(update={"question": question})
        try:
            data = await client.fetch_term_stats(self._seal(request.to_bytes(), client.site_id), timeout_s)
            counts = PhraseCounts.from_bytes(self._open_from(data, client.site_id))
            if counts.site_id != client.site_id or counts.request_id != request.request_id:
                raise InputError(f"phrase counts name site {counts.site_id!r}, request {counts.request_id!r}")
        except (RagFedError, TimeoutError, ValueError) as error:
            _log.warning("phrase counts of site %s not had: %s", client.site_id, error)
            return None
        return dict(counts.counts)

    def outdated(self, replies: Mapping[str, SiteReply]) -> list[str]:
        """Sites whose replies name another version of their keyword index than the sums hold."""
        held = self.federation.versions
        return sorted(
            site_id
            for site_id, reply in replies.items()
            if reply.term_stats_version is not None and reply.term_stats_version != held.get(site_id)
        )

    async def _fetch(self, client: TermStatsClient, timeout_s: float) -> str | None:
        request = TermStatsRequest.for_key(self.federation.key, uuid.uuid4().hex)
        try:
            data = await client.fetch_term_stats(self._seal(request.to_bytes(), client.site_id), timeout_s)
            publication = TermStatsPublication.from_bytes(self._open_from(data, client.site_id))
            if publication.site_id != client.site_id or publication.request_id != request.request_id:
                raise InputError(f"publication names site {publication.site_id!r}, request {publication.request_id!r}")
            self.federation.update(publication)
        except (RagFedError, TimeoutError, ValueError) as error:
            _log.warning("term statistics of site %s not refreshed: %s", client.site_id, error)
            return str(error) or type(error).__name__
        return None


def with_term_stats(query: SiteQuery, stats: QueryTermStats | None) -> SiteQuery:
    """``query`` carrying ``stats`` (for one site)."""
    return query if stats is None else query.model_copy(update={"term_stats": stats})


def term_stats_of(reply: SiteReply, mode: SearchMode) -> str | None:
    """What a site's keyword scores were computed with, as the result reports it: ``global``, ``stale``,
    ``unusable`` or ``own`` (no statistics were sent); ``None`` in dense mode."""
    if mode == "dense":
        return None
    return reply.term_stats or "own"


def summarise(uses: Iterable[str | None]) -> TermStatsSummary | None:
    seen = [use for use in uses if use is not None]
    if not seen:
        return None
    if all(use == "global" for use in seen):
        return "global"
    return "mixed" if "global" in seen else "own"


def is_stub(passage: Passage) -> bool:
    return not passage.citation.doc_id and not passage.text


async def fill_candidates(
    merged: list[Passage], fetch: Callable[[str, list[int]], Awaitable[list[Passage]]], k: int | None = None
) -> list[Passage]:
    """``merged`` with every candidate that made it fetched from its site (one call per site, at once); a
    candidate whose site does not send it is left out (the ranks close up). Ties are then ordered by
    ``merge.tie_key`` (a fetched candidate has its document id now) and the list cut to ``k``."""
    wanted: dict[str, list[int]] = {}
    for passage in merged:
        if is_stub(passage):
            wanted.setdefault(passage.citation.site_id, []).append(passage.chunk_id)
    if not wanted:
        return merged
    results = await asyncio.gather(*(fetch(site, ids) for site, ids in wanted.items()), return_exceptions=True)
    fetched: dict[tuple[str, int], Passage] = {}
    for site, result in zip(wanted, results, strict=True):
        if isinstance(result, BaseException):
            _log.warning("candidates of site %s not fetched: %s", site, result)
            continue
        fetched.update(((site, p.chunk_id), p) for p in result if p.citation.site_id == site)
    filled: list[Passage] = []
    for passage in merged:
        if is_stub(passage):
            found = fetched.get((passage.citation.site_id, passage.chunk_id))
            if found is None:
                continue
            passage = found.model_copy(
                update={
                    "score": passage.score,
                    "dense_score": passage.dense_score,
                    "keyword_score": passage.keyword_score,
                }
            )
        filled.append(passage.model_copy(update={"rank": len(filled) + 1}))
    return order_ties(filled)[:k]
