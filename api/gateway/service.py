"""The gateway's work behind the routes: embed, route to the sites; and the sites' status. Answers are
composed by ``answering.GatewayAnswers`` (``service.answers``); the periodic work is in background.py.

Async where it waits on the network, and hands blocking model work (embedding) to worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np
from fastapi.concurrency import run_in_threadpool
from numpy.typing import NDArray

from api.gateway.admin_keys import AdminKeyDistributor
from api.gateway.admission import AnswerAdmission
from api.gateway.answering import GatewayAnswers
from api.gateway.background import push_admin_keys_forever, refresh_sketches_forever, refresh_term_stats_forever
from api.gateway.feedback_forwarding import FeedbackForwarder
from api.gateway.keystore import Caller, KeyStore, Role
from api.gateway.schemas import SiteView
from api.observability import GatewayMetrics
from rag_fed.coordinator.embedders import EmbedderPool
from rag_fed.coordinator.settings import GatewaySettings
from rag_fed.crypto import KeyPair
from rag_fed.embedders import set_embedding_threads
from rag_fed.embedders.base import Embedder
from rag_fed.errors import RagFedError
from rag_fed.federation import SiteRegistry
from rag_fed.federation.models import ModelRegistry
from rag_fed.generators.base import Generator
from rag_fed.observability import current_request_id, record_span, span
from rag_fed.router import FederatedResult, HttpSiteClient, Router
from rag_fed.router.clients import http_site_clients, site_http_client
from rag_fed.term_stats import load_or_create_term_key
from rag_fed.types import SearchMode

__all__ = ["GatewayService"]

_log = logging.getLogger(__name__)


class GatewayService:
    """One per gateway process. ``start`` loads the embedder and contacts the sites; ``stop`` closes."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        keys: KeyPair,
        registry: SiteRegistry,
        keystore: KeyStore,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.keystore = keystore
        self.models = ModelRegistry(settings.models_dir)
        self.embedders = EmbedderPool(settings.embedder, self.models, embedder)
        self._http = site_http_client(settings.tls_ca_file)
        self._urls: dict[str, str] = {}
        self.router = Router(
            keys=keys,
            gateway_id=settings.gateway_id,
            site_keys=registry.sender_keys(),
            clients=[],
            policy=settings.routing,
            term_key=load_or_create_term_key(settings.term_key_file) if settings.routing.term_stats else None,
        )
        self.metrics = GatewayMetrics()
        self.answers = GatewayAnswers(settings.answers, settings.generator, self.metrics, generator)
        self.metrics.watch(lambda: self.router.breakers, lambda: self.router.clients, lambda: self.embedders.versions)
        self.admission = AnswerAdmission(settings.answers_per_caller, settings.answers_in_flight)
        self.metrics.watch_admission(lambda: self.admission.in_flight, lambda: dict(self.admission.refused))
        self._refresher: asyncio.Task[None] | None = None
        self._term_stats_refresher: asyncio.Task[None] | None = None
        self._version_scan: asyncio.Task[dict[str, str]] | None = None
        self.admin_keys = AdminKeyDistributor(keystore, registry, keys, settings.gateway_id, settings.tls_ca_file)
        self.feedback = FeedbackForwarder(registry, keys, settings.gateway_id, settings.tls_ca_file)
        self._admin_keys_pusher: asyncio.Task[None] | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder of the gateway's settings (the version sites serve until a rollout)."""
        return self.embedders.default

    async def start(self) -> None:
        set_embedding_threads(self.settings.embedding_threads)
        await run_in_threadpool(self.embedders.load_default)
        self.sync_clients()
        # In the background: learn which version each site serves and load those embedders, so the
        # first query after a restart mid-rollout does not wait for a model to load.
        self._version_scan = asyncio.create_task(self.learn_site_versions())
        settings = self.settings
        if settings.routing.selection == "sketch":
            refresh = refresh_sketches_forever(self.router, self.sync_clients, settings.sketch_refresh_s)
            self._refresher = asyncio.create_task(refresh)
        if self.router.term_stats is not None:
            refresh = refresh_term_stats_forever(self.router, self.sync_clients, settings.term_stats_refresh_s)
            self._term_stats_refresher = asyncio.create_task(refresh)
        # The first round before serving: a site admin's key made before the gateway started works at once.
        first = await run_in_threadpool(self.admin_keys.push)
        failed = any(not result.ok for result in first)
        pushes = push_admin_keys_forever(self.admin_keys.push, settings.admin_keys_push_s, failed)
        self._admin_keys_pusher = asyncio.create_task(pushes)

    async def stop(self) -> None:
        tasks: list[asyncio.Task[None] | asyncio.Task[dict[str, str]] | None] = [
            self._refresher,
            self._term_stats_refresher,
            self._version_scan,
            self._admin_keys_pusher,
        ]
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._http.aclose()

    async def learn_site_versions(self) -> dict[str, str]:
        """Ask every site's health page which version it serves and load those embedders.

        Only a hint (health pages are not sealed): a wrong one costs one retried query, because every
        sealed reply names the version the site really serves.
        """
        clients = [c for c in self.router.clients.values() if isinstance(c, HttpSiteClient)]
        infos = await asyncio.gather(*(c.health_info(self.settings.health_timeout_s) for c in clients))
        learned: dict[str, str] = {}
        for client, info in zip(clients, infos, strict=True):
            version = info.get("serving_version") or info.get("embedder_version") if info else None
            if isinstance(version, str) and version:
                self.router.note_site_version(client.site_id, version)
                learned[client.site_id] = version
        for version in sorted(set(learned.values())):
            try:
                await run_in_threadpool(self.embedders.get, version)
            except RagFedError as error:
                _log.warning("sites serve embedder version %s, which the gateway cannot load: %s", version, error)
        return learned

    def sync_clients(self) -> None:
        """Follow the registry: sites registered, moved or removed since the last call."""
        urls = {site.site_id: site.url for site in self.registry.list()}
        if urls != self._urls:
            self.router.set_clients(http_site_clients(urls, self._http))  # a site host's sites: one request
            changed = [client for sid, client in self.router.clients.items() if self._urls.get(sid) != urls[sid]]
            self._urls = urls
            self._fetch_term_stats_of(changed)

    def _fetch_term_stats_of(self, clients: Sequence[object]) -> None:
        """Sites registered or moved since the last look get their term statistics fetched now, in the
        background, rather than at the next periodic refresh; until then they score with their own. A
        removed site's statistics leave the federation's at once (they weighed in every BM25 score until
        the next refresh)."""
        stats = self.router.term_stats
        if stats is None:
            return
        stats.federation.retain(self._urls)
        if not clients:
            return
        # Without a running event loop (before the service started) there is nothing to do: the start fetches.
        with contextlib.suppress(RuntimeError):
            stats.refresh_later(clients)

    async def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: SearchMode | None = None,
        sites: Sequence[str] | None = None,
        want_answer: bool = True,
        phrase: bool = False,
        retrieval_text: str | None = None,
    ) -> FederatedResult:
        """Embed (``retrieval_text`` or the question) with the version most of the sites serve, and ask
        them; a site serving another version gets the question embedded with its version. Keyword search
        without an answer embeds nothing (unless sites are selected by sketch, which embeds on demand)."""
        self.sync_clients()
        text = retrieval_text or question
        mode = mode or self.settings.default_mode

        def encode(version: str) -> NDArray[np.float32]:
            vector: NDArray[np.float32] = self.embedders.get(version).embed([text])[0]
            return vector

        version = self._main_version(sites)
        vector: NDArray[np.float32] | None = None
        embedding = time.perf_counter()
        if mode != "keyword" or want_answer:
            with span("gateway.embed"):
                try:
                    vector = await run_in_threadpool(encode, version)
                except RagFedError as error:
                    _log.warning("embedder version %s unavailable (%s); using the default", version, error)
                    version = self.embedder.model_version
                    vector = await run_in_threadpool(encode, version)
            self.metrics.stage("embed", time.perf_counter() - embedding)
        routing = time.perf_counter()
        fanned_out = time.time_ns()
        with span("gateway.route"):
            result = await self.router.query(
                question,
                vector,
                version,
                k=k or self.settings.default_k,
                mode=mode,
                want_answer=want_answer,
                phrase=phrase,
                site_ids=sites,
                encode=encode,
                request_id=current_request_id(),
            )
            for site in result.sites:
                if site.status != "skipped":  # each call drawn from the fan-out's start, as long as it took
                    ended = fanned_out + int(site.latency_ms * 1e6)
                    record_span("gateway.site_call", fanned_out, ended, site=site.site_id, status=site.status)
        self.metrics.stage("route", time.perf_counter() - routing)
        self.metrics.federated(result)
        asked = [site for site in result.sites if site.status != "skipped"]
        _log.info(
            "question %s: %d of %d sites asked, %d answered, %d passages, %.0f ms",
            result.request_id,
            len(asked),
            len(result.sites),
            len(result.answered),
            len(result.passages),
            result.elapsed_ms,
        )
        return result

    def _main_version(self, sites: Sequence[str] | None) -> str:
        """The version most of the asked sites serve (as last seen); the default one on a tie."""
        default = self.embedder.model_version
        known = self.router.site_versions
        counts = Counter(known.get(site_id, default) for site_id in (sites or self.router.clients))
        if not counts:
            return default
        best = max(counts.values())
        return default if counts[default] == best else min(v for v, n in counts.items() if n == best)

    async def site_views(self, caller: Caller) -> list[SiteView]:
        """Registered sites with live health and circuit state; a site admin sees only its own site."""
        self.sync_clients()
        sites = [s for s in self.registry.list() if caller.role is not Role.SITE_ADMIN or s.site_id == caller.site_id]
        clients = self.router.clients
        timeout = self.settings.health_timeout_s

        async def health(site_id: str) -> dict[str, object] | None:
            client = clients.get(site_id)
            return await client.health_info(timeout) if isinstance(client, HttpSiteClient) else None

        infos = await asyncio.gather(*(health(site.site_id) for site in sites))
        sketches = self.router.sketches
        views = []
        for site, info in zip(sites, infos, strict=True):
            version = info.get("serving_version") if info else None
            if isinstance(version, str) and version:
                self.router.note_site_version(site.site_id, version)
            breaker = self.router.breakers.for_site(site.site_id)
            sketch = sketches.get(site.site_id)
            centroids = sketch.centroids.shape[0] if sketch is not None and sketch.centroids is not None else None
            views.append(
                SiteView(
                    site_id=site.site_id,
                    url=site.url,
                    fingerprint=site.fingerprint,
                    healthy=info is not None,
                    circuit=breaker.state.value,
                    consecutive_failures=breaker.consecutive_failures,
                    sketch_chunks=sketch.chunk_count if sketch is not None else None,
                    sketch_centroids=centroids,
                    serving_version=self.router.site_versions.get(site.site_id),
                )
            )
        return views
