"""The federated query: select sites, seal one query per site, fan out under one deadline, fuse.

A site that fails, times out, sends a reply that does not open, or whose breaker is open is reported in
the result with its reason; it never fails the query. Only the gateway's own mistakes (a bad question
or embedding) raise.

Embedder versions: each site gets the question embedded with the version it serves, as the router last
saw it (every reply names the site's version). A site that answers "version mismatch" (it switched
since) names its new version in that reply; the router records it and asks once more, with that
version's embedding, within the same deadline. When the answering sites serve different versions,
their scores are not comparable and passages are fused by reciprocal rank (``merge_passages``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
from nacl.public import PublicKey
from numpy.typing import NDArray

from rag_fed.crypto import KeyPair
from rag_fed.errors import InputError, RagFedError
from rag_fed.protocol import QueryTermStats, SiteQuery, SiteReply
from rag_fed.router.breaker import CircuitBreakers
from rag_fed.router.clients import SiteClient, SketchClient
from rag_fed.router.merge import merge_passages
from rag_fed.router.replies import SentReply, SiteFailure, ms_since, settle, wait_for_replies, with_fetch
from rag_fed.router.result import FederatedResult, SiteOutcome
from rag_fed.router.sealed import SealedChannel
from rag_fed.router.selection import RoutingPolicy, SketchScorer, SketchScores, choose_by_sketch, with_text_k
from rag_fed.router.sketch import SiteSketch
from rag_fed.router.term_stats import (
    GatewayTermStats,
    fill_candidates,
    summarise,
    term_stats_of,
    with_term_stats,
)
from rag_fed.router.versions import QueryEncoder, QueryVectors
from rag_fed.term_stats import FederationTermStats
from rag_fed.types import Passage, SearchMode, SiteAnswer

__all__ = ["Router"]

_log = logging.getLogger(__name__)
_PHRASE_TIMEOUT_S = 2.0  # the sites' counts of a question's phrases: past this, the sites estimate them


class Router:
    """Routes one question to many sites. ``site_keys`` is read on every query (a live registry view)."""

    def __init__(
        self,
        *,
        keys: KeyPair,
        gateway_id: str,
        site_keys: Mapping[str, PublicKey],
        clients: Sequence[SiteClient],
        policy: RoutingPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        term_key: bytes | None = None,
    ) -> None:
        self.policy = policy or RoutingPolicy()
        self._channel = SealedChannel(keys, gateway_id, site_keys)
        self._clients: dict[str, SiteClient] = {}
        self.set_clients(clients)
        self.breakers = breakers or CircuitBreakers(self.policy.failure_threshold, self.policy.cooldown_s)
        self._sketches: dict[str, SiteSketch] = {}
        self._scorer = SketchScorer()
        self._versions: dict[str, str] = {}
        self.term_stats = (
            GatewayTermStats(self._channel.seal_to, self._channel.open_from, FederationTermStats(term_key))
            if self.policy.term_stats
            else None
        )

    @property
    def clients(self) -> dict[str, SiteClient]:
        return dict(self._clients)

    @property
    def channel(self) -> SealedChannel:
        """Seals to and opens from the registered sites (for calls beside the query: counts, sketches)."""
        return self._channel

    @property
    def sketches(self) -> dict[str, SiteSketch]:
        return dict(self._sketches)

    @property
    def site_versions(self) -> dict[str, str]:
        """The embedder version each site serves, as last seen (in a reply, or as noted)."""
        return dict(self._versions)

    def note_site_version(self, site_id: str, version: str) -> None:
        """Record the version a site serves (e.g. from its health page), so queries use it first."""
        self._versions[site_id] = version

    def set_clients(self, clients: Sequence[SiteClient]) -> None:
        """Replace the set of sites (e.g. after the registry changed)."""
        self._clients = {client.site_id: client for client in clients}

    async def refresh_sketches(self, timeout_s: float = 10.0) -> dict[str, str | None]:
        """Fetch every site's sealed sketch; returns ``site_id -> error`` (``None`` when it worked).
        A site whose sketch cannot be fetched keeps its previous one."""
        sources = [c for c in self._clients.values() if isinstance(c, SketchClient)]
        results = await asyncio.gather(*(self._fetch_sketch(c, timeout_s) for c in sources))
        return {client.site_id: error for client, error in zip(sources, results, strict=True)}

    async def _fetch_sketch(self, client: SketchClient, timeout_s: float) -> str | None:
        try:
            data = await client.fetch_sketch(timeout_s)
            sketch = SiteSketch.from_bytes(self._channel.open_from(data, client.site_id))
            if sketch.site_id != client.site_id:
                raise InputError(f"sketch names site {sketch.site_id!r}")
        except (RagFedError, TimeoutError, ValueError) as error:
            _log.warning("sketch of site %s not refreshed: %s", client.site_id, error)
            return str(error) or type(error).__name__
        self._sketches[client.site_id] = sketch
        self._scorer.clear()
        return None

    async def refresh_term_stats(self, timeout_s: float = 10.0) -> dict[str, str | None]:
        """Fetch every site's term statistics (docs/term-statistics.md); ``site_id -> error`` as for sketches."""
        if self.term_stats is None:
            return {}
        self.term_stats.federation.retain(self._clients)
        return await self.term_stats.refresh(self._clients.values(), timeout_s)

    async def query(
        self,
        question: str,
        embedding: NDArray[np.float32] | None,
        embedder_version: str,
        *,
        k: int = 5,
        mode: SearchMode = "dense",
        want_answer: bool = True,
        phrase: bool = False,
        site_ids: Sequence[str] | None = None,
        encode: QueryEncoder | None = None,
        request_id: str | None = None,
    ) -> FederatedResult:
        """Ask the selected sites and fuse what comes back before ``policy.deadline_s``.

        ``embedding`` is the question embedded with ``embedder_version``; ``encode`` embeds it with any
        other version a site serves (without it, such a site's own version-mismatch refusal is reported).
        ``None`` only for keyword search without an answer, which compares no vectors (site selection by
        sketch then embeds with ``encode``).
        ``want_answer``: sites send evidence; ``phrase``: their local models also phrase a checked answer.
        ``request_id``: the question's id (the gateway's, made when the request arrived), sealed into every
        site's query so both sides log it; a new one when ``None``.
        """
        started = time.perf_counter()
        query = SiteQuery(
            question=question,
            embedding=None if embedding is None else np.asarray(embedding, dtype=np.float32).reshape(-1),
            k=k,
            embedder_version=embedder_version,
            mode=mode,
            want_answer=want_answer,
            phrase=phrase,
            request_id=request_id or uuid.uuid4().hex,
        )
        vectors = QueryVectors({} if query.embedding is None else {embedder_version: query.embedding}, encode)
        outcomes, chosen, scores = await self._select(query, vectors, site_ids)
        query = with_text_k(query, len(chosen), self.policy.text_share)
        stats: Mapping[str, QueryTermStats] = {}
        if self.term_stats is not None:
            timeout = min(_PHRASE_TIMEOUT_S, self.policy.deadline_s)
            stats = await self.term_stats.with_phrases(question, mode, self._clients, timeout)
        tasks = {
            site_id: asyncio.create_task(self._ask(self._clients[site_id], query, vectors, started, stats.get(site_id)))
            for site_id in chosen
        }
        replies: dict[str, SiteReply] = {}
        grace = None if phrase else self.policy.straggler_grace_s
        cut_by_grace = await wait_for_replies(tasks, started + self.policy.deadline_s, grace) if tasks else False
        if cut_by_grace:
            unanswered = (
                f"no reply within {grace:.1f} s of the first site's (routing.straggler_grace_s); "
                "the answer did not wait for it"
            )
        else:
            unanswered = f"no reply within the {self.policy.deadline_s:.1f} s deadline (routing.deadline_s)"
        for site_id, task in tasks.items():
            outcome, reply = await settle(site_id, task, started, self.breakers.for_site(site_id), unanswered)
            outcomes[site_id] = outcome.model_copy(update={"sketch_score": scores.get(site_id)})
            if reply is not None:
                replies[site_id] = reply
                outcomes[site_id] = outcomes[site_id].model_copy(update={"term_stats": term_stats_of(reply, mode)})
        if self.term_stats is not None and (outdated := self.term_stats.outdated(replies)):
            self.term_stats.refresh_later(self._clients[site_id] for site_id in outdated)
        rankings = {site_id: replies[site_id].passages[:k] for site_id in chosen if site_id in replies}
        candidates = {site_id: r.candidates for site_id, r in replies.items() if r.candidates is not None}
        depths = {site_id: reply.hybrid_depth for site_id, reply in replies.items()}
        versions = {site_id: reply.embedder_version for site_id, reply in replies.items()}
        answers = [
            SiteAnswer(site_id=site_id, answer=reply.answer, passages=list(reply.passages), evidence=reply.evidence)
            for site_id, reply in replies.items()
            if reply.answer
        ]
        fetched: dict[str, SentReply] = {}

        async def fetch(site_id: str, chunk_ids: list[int]) -> list[Passage]:
            sent = fetched[site_id] = await self._fetch(site_id, chunk_ids, query, vectors, versions[site_id], started)
            return list(sent.reply.passages)

        passages = await fill_candidates(merge_passages(rankings, k, mode, versions, depths, candidates), fetch, k)
        for site_id, sent in fetched.items():  # the second call's bytes count as the site's
            outcomes[site_id] = with_fetch(outcomes[site_id], sent)
        return FederatedResult(
            request_id=query.request_id,
            question=question,
            mode=mode,
            k=k,
            passages=passages,
            answers=answers,
            evidence=[item for site_id in sorted(replies) for item in replies[site_id].evidence],
            sites=[outcomes[site_id] for site_id in sorted(outcomes)],
            elapsed_ms=(time.perf_counter() - started) * 1000,
            embedder_version=embedder_version,
            term_stats=summarise(outcomes[site_id].term_stats for site_id in replies),
        )

    async def _select(
        self, query: SiteQuery, vectors: QueryVectors, site_ids: Sequence[str] | None
    ) -> tuple[dict[str, SiteOutcome], list[str], dict[str, float]]:
        if site_ids is not None:
            unknown = sorted(set(site_ids) - set(self._clients))
            if unknown:
                raise InputError(f"unknown site ids {unknown}; known: {sorted(self._clients)}")
        candidates = list(site_ids) if site_ids is not None else sorted(self._clients)
        sketching = self.policy.selection == "sketch"
        scores = await self._sketch_scores(vectors, candidates) if sketching else {}
        wanted = choose_by_sketch(scores, candidates, self.policy) if sketching else set(candidates)
        outcomes: dict[str, SiteOutcome] = {}
        chosen: list[str] = []
        for site_id in candidates:
            score = scores.get(site_id)
            if site_id not in wanted:
                reason = f"not selected: sketch score {score:.3f}" if score is not None else "not selected"
                outcomes[site_id] = SiteOutcome(site_id=site_id, status="skipped", error=reason, sketch_score=score)
                continue
            breaker = self.breakers.for_site(site_id)
            if not breaker.allow():
                reason = (
                    f"circuit open after {breaker.consecutive_failures} consecutive failures; "
                    f"next probe in {breaker.retry_in_s():.0f} s"
                )
                outcomes[site_id] = SiteOutcome(site_id=site_id, status="skipped", error=reason, sketch_score=score)
                continue
            chosen.append(site_id)
        return outcomes, chosen, scores

    async def _sketch_scores(self, vectors: QueryVectors, candidates: Sequence[str]) -> SketchScores:
        """Each sketch is scored with the query embedded by the sketch's own version. Mid-rollout, the
        sites of each version are scored among themselves (cosines of two embedders do not compare)."""
        groups: dict[str, list[str]] = {}
        for site_id in candidates:
            sketch = self._sketches.get(site_id)
            if sketch is not None:
                groups.setdefault(sketch.embedder_version, []).append(site_id)
        scored: list[SketchScores] = []
        for version, group in groups.items():
            try:
                vector = await vectors.get(version)
            except RagFedError as error:
                _log.warning("sketches of version %s not scored (those sites are asked): %s", version, error)
                continue
            scored.append(self._scorer.scores(vector, version, self._sketches, group))
        if len(scored) == 1:
            return scored[0]
        merged = SketchScores({}, {})
        for part in scored:
            merged.update_from(part)
        return merged

    async def _ask(
        self,
        client: SiteClient,
        base: SiteQuery,
        vectors: QueryVectors,
        started: float,
        stats: QueryTermStats | None = None,
    ) -> SentReply:
        site_id = client.site_id
        first_sent = time.perf_counter()
        base = with_term_stats(base, stats)
        # Without an embedding of the version the site was seen serving, ask with the base version:
        # the site has perhaps switched to it, and if not its own refusal is what gets reported.
        known = self._versions.get(site_id, base.embedder_version)
        unversioned = base.embedding is None  # keyword search without an answer: any version serves it
        query = base if unversioned else await self._versioned(base, vectors, known, site_id) or base
        first = await self._send(client, query, started)
        served = first.reply.embedder_version
        self._versions[site_id] = served
        if first.reply.status == "answered" or served == query.embedder_version:
            return first
        # The site serves another version than the router thought (it switched): ask again, once.
        retry = await self._versioned(base, vectors, served, site_id)
        if retry is None:
            return first
        _log.info("site %s now serves %s, not %s: asking again with that version", site_id, served, known)
        try:
            second = await self._send(client, retry, started)
        except SiteFailure as failure:
            raise SiteFailure(
                str(failure),
                ms_since(first_sent),
                first.bytes_sent + failure.bytes_sent,
                first.bytes_received + failure.bytes_received,
            ) from None
        self._versions[site_id] = second.reply.embedder_version
        return SentReply(
            second.reply,
            ms_since(first_sent),
            first.bytes_sent + second.bytes_sent,
            first.bytes_received + second.bytes_received,
        )

    async def _fetch(
        self, site_id: str, chunk_ids: list[int], base: SiteQuery, vectors: QueryVectors, version: str, started: float
    ) -> SentReply:
        """The passages of candidates of ``site_id`` that made the top k (a second, short call to it)."""
        query = await self._versioned(base, vectors, version, site_id) or base
        update = {"fetch": chunk_ids, "term_stats": None, "want_answer": False, "text_k": None}
        return await self._send(self._clients[site_id], query.model_copy(update=update), started)

    async def _versioned(self, base: SiteQuery, vectors: QueryVectors, version: str, site_id: str) -> SiteQuery | None:
        """``base`` embedded with ``version`` (same request id); ``None`` if the gateway cannot embed it."""
        if version == base.embedder_version:
            return base
        try:
            return SiteQuery(
                question=base.question,
                embedding=await vectors.get(version),
                k=base.k,
                embedder_version=version,
                mode=base.mode,
                want_answer=base.want_answer,
                phrase=base.phrase,
                request_id=base.request_id,
                term_stats=base.term_stats,
                text_k=base.text_k,
            )
        except (RagFedError, ValueError) as error:
            _log.warning(
                "site %s serves embedder version %r, which the gateway cannot embed with: %s", site_id, version, error
            )
            return None

    async def _send(self, client: SiteClient, query: SiteQuery, started: float) -> SentReply:
        timeout = max(0.001, self.policy.deadline_s - (time.perf_counter() - started))
        if query.want_answer:  # the site skips model work it could not finish before the gateway gives up
            query = query.model_copy(update={"deadline_s": round(timeout, 3)})
        return await self._channel.call(client, query, timeout)
