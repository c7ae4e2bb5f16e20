"""Fake sites for router tests: real envelopes and protocol messages, canned passages, no models."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router import InProcessSiteClient
from rag_fed.types import Citation, Evidence, Passage

__all__ = ["GATEWAY", "VERSION", "FakeSite", "evidence_of", "passage", "unit_vector"]

GATEWAY = "gateway"
VERSION = "test-embedder@1"


def passage(site_id: str, chunk_id: int, score: float, rank: int, text: str = "") -> Passage:
    return Passage(
        citation=Citation(site_id=site_id, doc_id=f"doc-{chunk_id}", title=f"Doc {chunk_id}", section="s1"),
        chunk_id=chunk_id,
        text=text or f"text of chunk {chunk_id} at {site_id}",
        score=score,
        rank=rank,
    )


def evidence_of(item: Passage, score: float | None = None) -> Evidence:
    """A span of the whole passage, as a site's evidence selection would cut it."""
    value = item.score if score is None else score
    return Evidence(
        citation=item.citation,
        text=item.text,
        score=value,
        similarity=value,
        coverage=value,
        passage_rank=item.rank,
        chunk_id=item.chunk_id,
    )


@dataclass
class FakeSite:
    """A site that answers with fixed passages (and, when answers are wanted, fixed evidence);
    ``delay_s`` and ``fail`` make it slow or broken."""

    site_id: str
    gateway_keys: KeyPair
    passages: list[Passage] = field(default_factory=list)
    answer: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    delay_s: float = 0.0
    fail: Exception | None = None
    keys: KeyPair = field(default_factory=KeyPair.generate)
    calls: int = 0
    last_query: SiteQuery | None = None

    def handle(self, sealed: bytes) -> bytes:
        self.calls += 1
        opener = EnvelopeOpener(self.keys, self.site_id, {GATEWAY: self.gateway_keys.public_key})
        query = SiteQuery.from_bytes(opener.open_bytes(sealed))
        self.last_query = query
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        reply = SiteReply(
            request_id=query.request_id,
            site_id=self.site_id,
            status="answered",
            answer=self.answer,
            passages=self.passages[: query.k],
            evidence=self.evidence if query.want_answer else [],
            embedder_version=query.embedder_version,
            egress="passages",
        )
        return self.seal(reply.to_bytes())

    def seal(self, payload: bytes, *, keys: KeyPair | None = None) -> bytes:
        return seal(
            payload,
            sender=keys or self.keys,
            sender_id=self.site_id,
            recipient_id=GATEWAY,
            recipient_key=self.gateway_keys.public_key,
        ).to_bytes()

    def client(self, handler: Callable[[bytes], bytes] | None = None) -> InProcessSiteClient:
        return InProcessSiteClient(self.site_id, handler or self.handle)


def unit_vector(dim: int = 8, axis: int = 0) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[axis] = 1.0
    return vector
