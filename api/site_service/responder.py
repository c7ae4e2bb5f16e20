"""The site's side of a federated query, without HTTP: sealed query in, sealed reply out.

Synchronous on purpose (the HTTP layer runs it in a worker thread). A query that cannot be opened or
parsed raises (the HTTP layer answers 4xx, unsealed: the sender is unknown or broken); a query the site
understood but cannot serve gets a sealed reply with status ``failed`` and the reason.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from nacl.public import PublicKey
from numpy.typing import NDArray

from api.site_service.egress import Redactor, apply_egress
from api.site_service.settings import SiteServiceSettings
from rag_fed.config import Settings
from rag_fed.crypto import EnvelopeOpener, KeyPair, ReplayGuard, seal
from rag_fed.embedders.base import Embedder
from rag_fed.errors import RagFedError
from rag_fed.generators.base import Generator
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.sketch import build_sketch
from rag_fed.site import Site
from rag_fed.types import Passage

__all__ = ["SiteResponder", "open_responder"]

_log = logging.getLogger(__name__)


class SiteResponder:
    """Opens, answers and seals. One per site process; thread-safe."""

    def __init__(self, site: Site, settings: SiteServiceSettings, keys: KeyPair, gateway_key: PublicKey) -> None:
        self.site = site
        self.settings = settings
        self._keys = keys
        self._gateway_key = gateway_key
        window = settings.envelope_max_age_s + 5.0
        self._opener = EnvelopeOpener(
            keys,
            site.site_id,
            {settings.gateway_id: gateway_key},
            max_age_s=settings.envelope_max_age_s,
            replay_guard=ReplayGuard(window),
        )
        self._redactor = Redactor(settings.redaction)
        # The store is thread-safe; the local model is not, and one generation at a time is all two
        # cores can run anyway.
        self._model_lock = threading.Lock()
        self._sketch_lock = threading.Lock()
        self._sketch: tuple[int, bytes] | None = None

    @property
    def embedder_version(self) -> str:
        return self.site.embedder.model_version

    def handle(self, sealed: bytes) -> bytes:
        """Answer one sealed ``SiteQuery`` with a sealed ``SiteReply``."""
        query = SiteQuery.from_bytes(self._opener.open_bytes(sealed))
        try:
            reply = self._answer(query)
        except RagFedError as error:
            _log.warning("query %s failed: %s", query.request_id, error)
            reply = self._failed(query, str(error))
        return self._seal(reply.to_bytes())

    def sketch(self) -> bytes:
        """The site's sketch sealed to the gateway; recomputed only when the chunk count changed."""
        with self._sketch_lock:
            count = self.site.chunk_count
            if self._sketch is None or self._sketch[0] != count:
                sketch = build_sketch(
                    self.site.site_id,
                    self.embedder_version,
                    _site_vectors(self.site),
                    max_centroids=self.settings.sketch_centroids,
                )
                self._sketch = (count, sketch.to_bytes())
            payload = self._sketch[1]
        return self._seal(payload)

    def invalidate_sketch(self) -> None:
        with self._sketch_lock:
            self._sketch = None

    def _answer(self, query: SiteQuery) -> SiteReply:
        if query.embedder_version != self.embedder_version:
            return self._failed(
                query,
                f"embedder version mismatch: the query was embedded with {query.embedder_version!r}, "
                f"this site serves {self.embedder_version!r}; the gateway must embed with the version "
                "the site serves (or wait until the site has re-embedded its index)",
            )
        query.require_dim(self.site.embedder.dim)
        started = time.perf_counter()
        passages = self.site.search(query.question, query.k, query.mode, query_vector=query.embedding)
        timings = {"search": _ms_since(started)}
        answer: str | None = None
        if query.want_answer:
            answer = self._local_answer(query, passages)
            timings["answer"] = _ms_since(started) - timings["search"]
        answer, released = apply_egress(answer, passages, self.settings.egress, self._redactor)
        return SiteReply(
            request_id=query.request_id,
            site_id=self.site.site_id,
            status="answered",
            answer=answer,
            passages=released,
            embedder_version=self.embedder_version,
            timings_ms=timings,
            egress=self.settings.egress,
        )

    def _local_answer(self, query: SiteQuery, passages: list[Passage]) -> str | None:
        if not passages:
            return None
        own = passages[: self.site.settings.search.answer_passages]
        try:
            with self._model_lock:
                return self.site.answer(query.question, passages=own).answer
        except RagFedError as error:
            # The passages are still worth sending; the gateway fuses what it gets.
            _log.error("local model failed on query %s: %s", query.request_id, error)
            return None

    def _failed(self, query: SiteQuery, reason: str) -> SiteReply:
        return SiteReply(
            request_id=query.request_id,
            site_id=self.site.site_id,
            status="failed",
            error=self._redactor(reason)[:2000],
            embedder_version=self.embedder_version,
            egress=self.settings.egress,
        )

    def _seal(self, payload: bytes) -> bytes:
        return seal(
            payload,
            sender=self._keys,
            sender_id=self.site.site_id,
            recipient_id=self.settings.gateway_id,
            recipient_key=self._gateway_key,
        ).to_bytes()


def open_responder(
    settings: SiteServiceSettings,
    core: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> SiteResponder:
    """Open the site named in ``settings`` under ``core.data_dir`` with its own key pair."""
    gateway_key = settings.gateway_key()
    site = Site.open(settings.site_id, core, embedder=embedder, generator=generator)
    try:
        keys = KeyPair.load(site.layout.keys_dir)
    except RagFedError:
        site.close()
        raise
    return SiteResponder(site, settings, keys, gateway_key)


def _site_vectors(site: Site) -> NDArray[np.float32]:
    # TODO(lead): use a public Site.iter_vectors() once rag_fed/site/node.py has one; the store's
    # docstore holds every committed vector.
    batches = [vectors for _, vectors in site._store.docstore.iter_vectors()]
    if not batches:
        return np.zeros((0, site.embedder.dim), dtype=np.float32)
    return np.concatenate(batches).astype(np.float32)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
