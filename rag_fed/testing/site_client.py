"""The ``SiteClient`` contract: a sealed query in, the site's sealed reply out, and every failure a
``RagFedError`` or ``TimeoutError`` the router counts against the site (``rag_fed.router.clients``).

Subclass :class:`SiteClientContract` and give it a ``site`` fixture yielding a :class:`SiteUnderTest`: a
client of a real site whose documents contain ``question``'s words, with the keys the contract seals with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from nacl.public import PublicKey

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.errors import RagFedError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.clients import SiteClient, SketchClient
from rag_fed.wire.sketch import SiteSketch

__all__ = ["SiteClientContract", "SiteUnderTest"]

_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SiteUnderTest:
    """``client`` reaches the site ``site_id`` (public key ``site_key``), which accepts queries sealed by
    ``gateway_keys`` as ``gateway_id``; a keyword search for ``question`` finds ``doc_id`` first."""

    client: SiteClient
    site_id: str
    site_key: PublicKey
    gateway_keys: KeyPair
    gateway_id: str
    question: str
    doc_id: str


class SiteClientContract:
    """Every ``SiteClient`` subclasses this and passes it unchanged."""

    @pytest.fixture
    def site(self) -> Iterator[SiteUnderTest]:
        raise NotImplementedError("give the contract a `site` fixture yielding a SiteUnderTest")

    def query(self, site: SiteUnderTest, question: str | None = None) -> SiteQuery:
        # keyword search without an answer: no embedding, so the contract needs no embedder of its own
        return SiteQuery(
            question=question or site.question, embedder_version="any", mode="keyword", want_answer=False, k=3
        )

    def sealed(self, site: SiteUnderTest, payload: bytes, recipient_id: str | None = None) -> bytes:
        recipient = recipient_id or site.site_id
        return seal(
            payload,
            sender=site.gateway_keys,
            sender_id=site.gateway_id,
            recipient_id=recipient,
            recipient_key=site.site_key,
        ).to_bytes()

    def opened(self, site: SiteUnderTest, sealed: bytes) -> bytes:
        opener = EnvelopeOpener(site.gateway_keys, site.gateway_id, {site.site_id: site.site_key})
        return opener.open_bytes(sealed)

    def test_is_a_site_client_of_its_site(self, site: SiteUnderTest) -> None:
        assert isinstance(site.client, SiteClient)
        assert site.client.site_id == site.site_id

    def test_a_sealed_query_gets_the_sites_sealed_reply(self, site: SiteUnderTest) -> None:
        query = self.query(site)
        sealed = asyncio.run(site.client.search(self.sealed(site, query.to_bytes()), _TIMEOUT_S))
        reply = SiteReply.from_bytes(self.opened(site, sealed))  # sealed by the site, to the gateway
        assert (reply.request_id, reply.site_id, reply.status) == (query.request_id, site.site_id, "answered")
        assert reply.passages, "the site's documents hold the question's words"
        assert reply.passages[0].citation.doc_id == site.doc_id
        assert len(reply.passages) <= query.k

    def test_each_query_gets_its_own_reply(self, site: SiteUnderTest) -> None:
        first, second = self.query(site), self.query(site)
        replies = asyncio.run(self._both(site, first, second))
        assert [reply.request_id for reply in replies] == [first.request_id, second.request_id]

    async def _both(self, site: SiteUnderTest, *queries: SiteQuery) -> list[SiteReply]:
        calls = [site.client.search(self.sealed(site, query.to_bytes()), _TIMEOUT_S) for query in queries]
        return [SiteReply.from_bytes(self.opened(site, sealed)) for sealed in await asyncio.gather(*calls)]

    def test_a_query_sealed_to_another_site_is_refused(self, site: SiteUnderTest) -> None:
        misaddressed = self.sealed(site, self.query(site).to_bytes(), recipient_id="not-this-site")
        with pytest.raises(RagFedError):
            asyncio.run(site.client.search(misaddressed, _TIMEOUT_S))

    def test_bytes_that_are_no_envelope_are_refused(self, site: SiteUnderTest) -> None:
        with pytest.raises(RagFedError):
            asyncio.run(site.client.search(b'{"not": "an envelope"}', _TIMEOUT_S))

    def test_a_replayed_query_is_refused(self, site: SiteUnderTest) -> None:
        sealed = self.sealed(site, self.query(site).to_bytes())

        async def twice() -> None:  # one event loop per test: a client may pool its connections
            await site.client.search(sealed, _TIMEOUT_S)
            with pytest.raises(RagFedError):
                await site.client.search(sealed, _TIMEOUT_S)

        asyncio.run(twice())

    def test_a_sketch_client_hands_out_the_sites_sealed_sketch(self, site: SiteUnderTest) -> None:
        if not isinstance(site.client, SketchClient):
            pytest.skip("this client publishes no sketch")
        sketch = SiteSketch.from_bytes(self.opened(site, asyncio.run(site.client.fetch_sketch(_TIMEOUT_S))))
        assert sketch.site_id == site.site_id
        assert sketch.chunk_count > 0
