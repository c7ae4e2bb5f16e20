"""SealedChannel: the gateway seals only to registered sites, opens only what the named site sealed, and a
call reports every way it can go wrong as a SiteFailure carrying what it cost."""

from __future__ import annotations

import asyncio

import pytest

from rag_fed.crypto import KeyPair
from rag_fed.errors import InputError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.replies import SiteFailure
from rag_fed.router.sealed import SealedChannel
from tests.rag_fed.router.fakes import GATEWAY, VERSION, FakeSite, passage, unit_vector

pytestmark = pytest.mark.unit


def _query() -> SiteQuery:
    return SiteQuery(question="oil pressure?", embedding=unit_vector(), k=2, embedder_version=VERSION, mode="dense")


def test_a_call_returns_the_opened_checked_reply_with_its_bytes() -> None:
    gateway = KeyPair.generate()
    site = FakeSite("plant-a", gateway, passages=[passage("plant-a", 1, 0.9, 1), passage("plant-a", 2, 0.8, 2)])
    channel = SealedChannel(gateway, GATEWAY, {"plant-a": site.keys.public_key})
    sent = asyncio.run(channel.call(site.client(), _query(), 5.0))
    assert [p.chunk_id for p in sent.reply.passages] == [1, 2]
    assert sent.bytes_sent > 0 and sent.bytes_received > 0


def test_sealing_to_a_site_without_a_registered_key_names_it() -> None:
    channel = SealedChannel(KeyPair.generate(), GATEWAY, {})
    with pytest.raises(InputError, match="'plant-x' has no registered public key"):
        channel.seal_to(b"{}", "plant-x")
    site = FakeSite("plant-x", KeyPair.generate())
    with pytest.raises(SiteFailure, match="no registered public key"):
        asyncio.run(channel.call(site.client(), _query(), 5.0))
    assert site.calls == 0  # nothing was sent


def test_a_reply_sealed_by_another_registered_site_is_refused() -> None:
    gateway = KeyPair.generate()
    a, b = FakeSite("plant-a", gateway), FakeSite("plant-b", gateway)
    channel = SealedChannel(gateway, GATEWAY, {"plant-a": a.keys.public_key, "plant-b": b.keys.public_key})
    with pytest.raises(InputError, match="sealed by 'plant-b', not by 'plant-a'"):
        channel.open_from(b.seal(b"{}"), "plant-a")


def test_a_reply_to_another_request_fails_the_call_with_its_bytes_counted() -> None:
    gateway = KeyPair.generate()
    site = FakeSite("plant-a", gateway)

    def stale(sealed: bytes) -> bytes:
        site.handle(sealed)
        other = SiteReply(
            request_id="other", site_id="plant-a", status="answered", embedder_version=VERSION, egress="x"
        )
        return site.seal(other.to_bytes())

    channel = SealedChannel(gateway, GATEWAY, {"plant-a": site.keys.public_key})
    with pytest.raises(SiteFailure, match=r"reply rejected .*for request 'other'") as failure:
        asyncio.run(channel.call(site.client(stale), _query(), 5.0))
    assert failure.value.bytes_sent > 0 and failure.value.bytes_received > 0
