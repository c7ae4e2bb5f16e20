"""The federated configurations: every query goes through the real router and site responders.

Each site is a real :class:`~rag_fed.site.Site` with its own keys and (when answering) its own model;
queries and replies are sealed and opened exactly as in deployment, and the bytes counted are those of
the sealed envelopes. Only the HTTP hop is left out (the site's handler is called in process), so
latency here is the federation's own cost; ``bench/query.py`` measures the same path over HTTP.
Answers are composed from the sites' evidence as the gateway composes them.

``federated`` asks every site; ``routed`` asks the sites whose sketch (k-means centroids of their
vectors, no text) is closest to the query, at most a quarter of them (at least one).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from eval._records import EvalDoc
from eval.site_systems import SystemSetup, build_sites, chunk_depth, composed_answer, doc_ranking
from eval.systems import SystemAnswer, SystemResult
from rag_fed.answers.compose import AnswerComposer
from rag_fed.answers.ranking import evidence_for_answer
from rag_fed.crypto import EnvelopeOpener, KeyPair
from rag_fed.protocol import SiteReply
from rag_fed.router import FederatedResult, InProcessSiteClient, Router, RoutingPolicy
from rag_fed.site import Site
from rag_fed.site.responder import ResponderSettings, SiteResponder
from rag_fed.term_stats import PublicationPolicy

__all__ = ["FederatedSystem", "SiteTap"]

GATEWAY_ID = "gateway"
EXACT_TERM_STATS = PublicationPolicy()
"""Every site publishes exact counts, no floor: BM25 at every site is the central index's."""


@dataclass(frozen=True)
class _Call:
    started: float
    ended: float
    sealed_reply: bytes


class SiteTap:
    """Wraps a site's handler to see when each call ran and what the site reports it spent.

    The site's own stage timings travel inside its sealed reply; the tap opens a copy of the reply
    with the gateway's key (after the query, outside every measured interval), as an observer that
    holds the gateway's key would. Thread-safe: the router calls handlers from worker threads.
    """

    def __init__(self, handler: Callable[[bytes], bytes], opener: EnvelopeOpener) -> None:
        self._handler = handler
        self._opener = opener
        self._lock = threading.Lock()
        self._calls: list[_Call] = []

    def __call__(self, sealed: bytes) -> bytes:
        started = time.perf_counter()
        reply = self._handler(sealed)
        ended = time.perf_counter()
        with self._lock:
            self._calls.append(_Call(started, ended, reply))
        return reply

    def take(self) -> list[tuple[float, float, dict[str, float]]]:
        """``(started, ended, site timings)`` of the calls since the last ``take``, and forget them."""
        with self._lock:
            calls, self._calls = self._calls, []
        taken = []
        for call in calls:
            reply = SiteReply.from_bytes(self._opener.open_bytes(call.sealed_reply))
            taken.append((call.started, call.ended, dict(reply.timings_ms)))
        return taken


def stage_timings(
    started: float, result: FederatedResult, calls: Sequence[tuple[float, float, Mapping[str, float]]]
) -> dict[str, float]:
    """The query's stages in ms from the router's start time, its result and the sites' calls.

    ``route``: start to the first site call (selection, sealing); ``site_search`` / ``site_evidence`` /
    ``site_answer``: the slowest site's own search, evidence and (phrased) answer times; ``fuse``: the
    last reply to the fused ranking (opening replies, merging). Sites work concurrently, so the stages
    overlap and do not add up to the total.
    """
    if not calls:
        return {"route": result.elapsed_ms, "fuse": 0.0}
    first_call = min(call[0] for call in calls)
    last_reply = max(call[1] for call in calls)
    timings = {
        "route": (first_call - started) * 1000,
        "site_search": max(call[2].get("search", 0.0) for call in calls),
        "fuse": max(0.0, result.elapsed_ms - (last_reply - started) * 1000),
    }
    for stage, name in (("evidence", "site_evidence"), ("answer", "site_answer")):
        spent = [call[2][stage] for call in calls if stage in call[2]]
        if spent:
            timings[name] = max(spent)
    return timings


class FederatedSystem:
    """All sites (``selection="all"``) or the sketch-selected quarter (``selection="sketch"``)."""

    def __init__(
        self, setup: SystemSetup, *, selection: str = "all", term_stats: PublicationPolicy | None = EXACT_TERM_STATS
    ) -> None:
        """``term_stats``: what every site publishes of its term counts for the federation's BM25
        (docs/term-statistics.md); ``None``: nothing, each site scores with its own counts."""
        if selection not in ("all", "sketch"):
            raise ValueError(f"selection must be 'all' or 'sketch', not {selection!r}")
        self._setup = setup
        self._selection = selection
        self._term_stats = term_stats
        self._sites: dict[str, Site] = {}
        self._taps: list[SiteTap] = []
        self._router: Router | None = None
        self._composer: AnswerComposer | None = None
        self._loop = asyncio.new_event_loop()

    @property
    def name(self) -> str:
        return "federated" if self._selection == "all" else "routed"

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        setup = self._setup
        self._sites = build_sites(docs_by_site, setup.settings, setup.documents_embedder, setup.generator_factory)
        gateway_keys = KeyPair.generate()
        site_keys = {site_id: KeyPair.load(site.layout.keys_dir).public_key for site_id, site in self._sites.items()}
        # A reply is opened only once its query is over, which a slow site can delay up to the deadline.
        tap_opener = EnvelopeOpener(gateway_keys, GATEWAY_ID, site_keys, max_age_s=setup.deadline_s + 60.0)
        clients = []
        for site_id, site in self._sites.items():
            # embedding_threads 0: a responder in a service sets torch's threads for its process; in process
            # here that would put the harness's later indexing on one thread.
            service = ResponderSettings(
                gateway_id=GATEWAY_ID, term_stats=self._term_stats or PublicationPolicy(), embedding_threads=0
            )
            responder = SiteResponder(site, service, KeyPair.load(site.layout.keys_dir), gateway_keys.public_key)
            tap = SiteTap(responder.handle, tap_opener)
            self._taps.append(tap)
            clients.append(InProcessSiteClient(site_id, tap, responder.sketch, responder.handle_term_stats))
        count = len(self._sites)
        policy = RoutingPolicy(
            deadline_s=setup.deadline_s,
            selection="all" if self._selection == "all" else "sketch",
            max_sites=None if self._selection == "all" else max(1, math.ceil(count / 4)),
            term_stats=self._term_stats is not None,
        )
        self._router = Router(
            keys=gateway_keys, gateway_id=GATEWAY_ID, site_keys=site_keys, clients=clients, policy=policy
        )
        if setup.answers_enabled:
            central = setup.generator_factory() if setup.generator_factory is not None else None
            self._composer = AnswerComposer(setup.settings.answers, central)
        if self._term_stats is not None and setup.mode != "dense":
            failures = self._loop.run_until_complete(self._router.refresh_term_stats())
            broken = {site: error for site, error in failures.items() if error}
            if broken:
                raise RuntimeError(f"term statistics could not be fetched: {broken}")
        if self._selection == "sketch":
            failures = self._loop.run_until_complete(self._router.refresh_sketches())
            broken = {site: error for site, error in failures.items() if error}
            if broken:
                raise RuntimeError(f"sketches could not be fetched: {broken}")

    def _query(
        self, query: str, k: int, want_answer: bool, phrase: bool = False
    ) -> tuple[FederatedResult, SystemResult]:
        if self._router is None:
            raise RuntimeError("index() must be called before search()")
        embedder = self._setup.embedder
        started = time.perf_counter()
        # Keyword search without an answer uses no embedding (sites selected by sketch do: routed).
        needed = self._setup.mode != "keyword" or want_answer or self._selection == "sketch"
        vector = embedder.embed([query])[0] if needed else None
        embedded = {"embed": (time.perf_counter() - started) * 1000} if needed else {}
        routed_at = time.perf_counter()
        result = self._loop.run_until_complete(
            self._router.query(
                query,
                vector,
                embedder.model_version,
                k=chunk_depth(k),
                mode=self._setup.mode,
                want_answer=want_answer,
                phrase=phrase,
            )
        )
        calls = [call for tap in self._taps for call in tap.take()]
        doc_ids, scores = doc_ranking(result.passages, k)
        return result, SystemResult(
            doc_ids,
            scores,
            {**embedded, **stage_timings(routed_at, result, calls)},
            bytes_sent=sum(outcome.bytes_sent for outcome in result.sites),
            bytes_received=sum(outcome.bytes_received for outcome in result.sites),
            sites_contacted=[outcome.site_id for outcome in result.sites if outcome.status != "skipped"],
            sites_failed=[outcome.site_id for outcome in result.missing],
        )

    def search(self, query: str, k: int) -> SystemResult:
        return self._query(query, k, want_answer=False)[1]

    def answer(self, query: str, k: int) -> SystemAnswer:
        if self._composer is None:
            raise RuntimeError(f"{self.name} was built without answers; set SystemSetup.strategy or a model")
        result, retrieved = self._query(query, k, want_answer=True, phrase=self._setup.site_answers)
        started = time.perf_counter()
        asked = [outcome.site_id for outcome in result.sites if outcome.status != "skipped"]
        evidence = evidence_for_answer(result.evidence, result.answers)
        stream = self._composer.stream(query, evidence, sites=asked, strategy=self._setup.strategy)
        first_ms: float | None = None
        for _ in stream:
            first_ms = first_ms if first_ms is not None else (time.perf_counter() - started) * 1000
        composed = stream.collect()
        compose_ms = (time.perf_counter() - started) * 1000
        timed = SystemResult(
            retrieved.doc_ids,
            retrieved.scores,
            {**retrieved.timings_ms, "compose_first": first_ms or compose_ms, "compose": compose_ms},
            bytes_sent=retrieved.bytes_sent,
            bytes_received=retrieved.bytes_received,
            sites_contacted=retrieved.sites_contacted,
            sites_failed=retrieved.sites_failed,
        )
        # What a citation may name: the passages merged for the question and those the sites' evidence and
        # answers came from (each site's own top passages, retrieved for this question too).
        citable = [
            *(passage.citation for passage in result.passages),
            *(item.citation for item in result.evidence),
            *(passage.citation for answer in result.answers for passage in answer.passages),
        ]
        return composed_answer(timed, composed, citable)

    def close(self) -> None:
        for site in self._sites.values():
            site.close()
        self._sites.clear()
        self._loop.close()
