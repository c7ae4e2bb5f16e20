"""The federated configurations: every query goes through the real router and site responders.

Each site is a real :class:`~rag_fed.site.Site` with its own keys; queries and replies are sealed and
opened exactly as in deployment, and the bytes counted are those of the sealed envelopes. Only the HTTP
hop is left out (the site's handler is called in process), so latency here is the federation's own
cost; ``bench/query.py`` measures the same path over HTTP.

``federated`` asks every site; ``routed`` asks the sites whose sketch (k-means centroids of their
vectors, no text) is closest to the query, at most a quarter of them (at least one).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence

from api.site_service.responder import SiteResponder
from api.site_service.settings import SiteServiceSettings
from eval._records import EvalDoc
from eval.site_systems import CHUNK_DEPTH_FACTOR, build_sites, doc_ranking
from eval.systems import SystemResult
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders.base import Embedder
from rag_fed.router import InProcessSiteClient, Router, RoutingPolicy
from rag_fed.site import Site
from rag_fed.types import SearchMode

__all__ = ["FederatedSystem"]

GATEWAY_ID = "gateway"


class FederatedSystem:
    """All sites (``selection="all"``) or the sketch-selected quarter (``selection="sketch"``)."""

    def __init__(self, settings: Settings, embedder: Embedder, mode: SearchMode, *, selection: str = "all") -> None:
        if selection not in ("all", "sketch"):
            raise ValueError(f"selection must be 'all' or 'sketch', not {selection!r}")
        self._settings = settings
        self._embedder = embedder
        self._mode = mode
        self._selection = selection
        self._sites: dict[str, Site] = {}
        self._router: Router | None = None
        self._loop = asyncio.new_event_loop()

    @property
    def name(self) -> str:
        return "federated" if self._selection == "all" else "routed"

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._sites = build_sites(docs_by_site, self._settings, self._embedder)
        gateway_keys = KeyPair.generate()
        clients = []
        site_keys = {}
        for site_id, site in self._sites.items():
            site_keys[site_id] = (site_key := KeyPair.load(site.layout.keys_dir)).public_key
            service = SiteServiceSettings(
                site_id=site_id, gateway_id=GATEWAY_ID, gateway_public_key=gateway_keys.public_key_text
            )
            responder = SiteResponder(site, service, site_key, gateway_keys.public_key)
            clients.append(InProcessSiteClient(site_id, responder.handle, responder.sketch))
        count = len(self._sites)
        policy = RoutingPolicy(
            selection="all" if self._selection == "all" else "sketch",
            max_sites=None if self._selection == "all" else max(1, math.ceil(count / 4)),
        )
        self._router = Router(
            keys=gateway_keys, gateway_id=GATEWAY_ID, site_keys=site_keys, clients=clients, policy=policy
        )
        if self._selection == "sketch":
            failures = self._loop.run_until_complete(self._router.refresh_sketches())
            broken = {site: error for site, error in failures.items() if error}
            if broken:
                raise RuntimeError(f"sketches could not be fetched: {broken}")

    def search(self, query: str, k: int) -> SystemResult:
        if self._router is None:
            raise RuntimeError("index() must be called before search()")
        started = time.perf_counter()
        vector = self._embedder.embed([query])[0]
        embed_ms = (time.perf_counter() - started) * 1000
        result = self._loop.run_until_complete(
            self._router.query(
                query,
                vector,
                self._embedder.model_version,
                k=min(100, k * CHUNK_DEPTH_FACTOR),
                mode=self._mode,
                want_answer=False,
            )
        )
        doc_ids, scores = doc_ranking(result.passages, k)
        answered = [outcome for outcome in result.sites if outcome.status == "answered"]
        site_ms = max((outcome.latency_ms for outcome in answered), default=0.0)
        return SystemResult(
            doc_ids,
            scores,
            {"embed": embed_ms, "route_and_fuse": result.elapsed_ms, "site_search": site_ms},
            bytes_sent=sum(outcome.bytes_sent for outcome in result.sites),
            bytes_received=sum(outcome.bytes_received for outcome in result.sites),
            sites_contacted=[outcome.site_id for outcome in result.sites if outcome.status != "skipped"],
        )

    def close(self) -> None:
        for site in self._sites.values():
            site.close()
        self._sites.clear()
        self._loop.close()
