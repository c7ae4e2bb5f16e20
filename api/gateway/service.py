"""The gateway's work behind the routes: embed, route to the sites, fuse; and the sites' status.

Async where it waits on the network, and hands blocking model work (embedding, the central model) to
worker threads, so one slow generation never stalls other requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence

import httpx
from fastapi.concurrency import run_in_threadpool

from api.gateway.keystore import Caller, KeyStore, Role
from api.gateway.schemas import SiteView
from api.gateway.settings import GatewaySettings
from rag_fed.answer_fusion import AnswerFusion, FusedAnswer, FusionStream
from rag_fed.crypto import KeyPair
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.errors import ModelError, RagFedError
from rag_fed.federation import SiteRegistry
from rag_fed.generators import load_generator
from rag_fed.generators.base import ChatMessage, Generator, StreamingGenerator
from rag_fed.router import FederatedResult, HttpSiteClient, Router
from rag_fed.types import SearchMode, SiteAnswer

__all__ = ["GatewayService", "ranked_answers"]

_log = logging.getLogger(__name__)


class _Unavailable(StreamingGenerator):
    """Stands in for a central model that failed to load, so fusion falls back and says why."""

    name = "unavailable"

    def __init__(self, reason: str) -> None:
        self._reason = reason

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        raise ModelError(self._reason)


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
        self._embedder = embedder
        self._generator = generator
        self._http = httpx.AsyncClient()
        self._urls: dict[str, str] = {}
        self.router = Router(
            keys=keys,
            gateway_id=settings.gateway_id,
            site_keys=registry.sender_keys(),
            clients=[],
            policy=settings.routing,
        )
        self._refresher: asyncio.Task[None] | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise ModelError("the gateway's embedder is not loaded yet (the service was not started)")
        return self._embedder

    async def start(self) -> None:
        if self._embedder is None:
            self._embedder = await run_in_threadpool(load_embedder, self.settings.embedder)
        self.sync_clients()
        if self.settings.routing.selection == "sketch":
            self._refresher = asyncio.create_task(self._refresh_sketches_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self._http.aclose()

    def sync_clients(self) -> None:
        """Follow the registry: sites registered, moved or removed since the last call."""
        urls = {site.site_id: site.url for site in self.registry.list()}
        if urls != self._urls:
            self.router.set_clients([HttpSiteClient(sid, url, self._http) for sid, url in sorted(urls.items())])
            self._urls = urls

    async def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: SearchMode | None = None,
        sites: Sequence[str] | None = None,
        want_answer: bool = True,
        retrieval_text: str | None = None,
    ) -> FederatedResult:
        """Embed (``retrieval_text`` or the question) and ask the sites."""
        self.sync_clients()
        embedder = self.embedder
        vectors = await run_in_threadpool(embedder.embed, [retrieval_text or question])
        return await self.router.query(
            question,
            vectors[0],
            embedder.model_version,
            k=k or self.settings.default_k,
            mode=mode or self.settings.default_mode,
            want_answer=want_answer,
            site_ids=sites,
        )

    async def central_model(self) -> Generator:
        if self._generator is None:
            try:
                self._generator = await run_in_threadpool(load_generator, self.settings.generator)
            except RagFedError as error:
                _log.error("central model unavailable: %s", error)
                return _Unavailable(str(error))
        return self._generator

    async def fusion_stream(
        self,
        question: str,
        result: FederatedResult,
        history: Sequence[ChatMessage] = (),
        max_tokens: int | None = None,
    ) -> FusionStream:
        fusion = AnswerFusion(await self.central_model(), max_tokens=max_tokens or self.settings.central_max_tokens)
        return fusion.stream(question, ranked_answers(result), history)

    async def fuse(
        self,
        question: str,
        result: FederatedResult,
        history: Sequence[ChatMessage] = (),
        max_tokens: int | None = None,
    ) -> FusedAnswer:
        fusion = AnswerFusion(await self.central_model(), max_tokens=max_tokens or self.settings.central_max_tokens)
        return await run_in_threadpool(fusion.fuse, question, ranked_answers(result), history)

    async def site_views(self, caller: Caller) -> list[SiteView]:
        """Registered sites with live health and circuit state; a site admin sees only its own site."""
        self.sync_clients()
        sites = [s for s in self.registry.list() if caller.role is not Role.SITE_ADMIN or s.site_id == caller.site_id]
        clients = self.router.clients
        timeout = self.settings.health_timeout_s

        async def healthy(site_id: str) -> bool:
            client = clients.get(site_id)
            return isinstance(client, HttpSiteClient) and await client.health(timeout)

        health = await asyncio.gather(*(healthy(site.site_id) for site in sites))
        sketches = self.router.sketches
        views = []
        for site, is_healthy in zip(sites, health, strict=True):
            breaker = self.router.breakers.for_site(site.site_id)
            sketch = sketches.get(site.site_id)
            centroids = sketch.centroids.shape[0] if sketch is not None and sketch.centroids is not None else None
            views.append(
                SiteView(
                    site_id=site.site_id,
                    url=site.url,
                    fingerprint=site.fingerprint,
                    healthy=is_healthy,
                    circuit=breaker.state.value,
                    consecutive_failures=breaker.consecutive_failures,
                    sketch_chunks=sketch.chunk_count if sketch is not None else None,
                    sketch_centroids=centroids,
                )
            )
        return views

    async def _refresh_sketches_forever(self) -> None:
        while True:
            self.sync_clients()
            errors = await self.router.refresh_sketches()
            failed = {site: error for site, error in errors.items() if error}
            if failed:
                _log.warning("sketches not refreshed: %s", failed)
            await asyncio.sleep(self.settings.sketch_refresh_s)


def ranked_answers(result: FederatedResult) -> list[SiteAnswer]:
    """Site answers ordered by their site's best fused passage (the order used when falling back)."""
    first: dict[str, int] = {}
    for position, passage in enumerate(result.passages):
        first.setdefault(passage.citation.site_id, position)
    return sorted(result.answers, key=lambda answer: first.get(answer.site_id, len(result.passages)))
