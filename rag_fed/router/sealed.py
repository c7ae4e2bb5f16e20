"""The gateway's side of the sealed exchange with its sites: seal a payload to a registered site, open
what a site sealed back (and check that it was that site), and one query's call made of both."""

from __future__ import annotations

import time
from collections.abc import Mapping

from nacl.public import PublicKey

from rag_fed.crypto import EnvelopeOpener, KeyPair, SealedEnvelope, seal
from rag_fed.errors import InputError, RagFedError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router.clients import SiteClient
from rag_fed.router.replies import SentReply, SiteFailure, check_reply, ms_since

__all__ = ["SealedChannel"]


class SealedChannel:
    """Seals to and opens from the sites in ``site_keys`` (read on every call: a live registry view)."""

    def __init__(self, keys: KeyPair, gateway_id: str, site_keys: Mapping[str, PublicKey]) -> None:
        self._keys = keys
        self._gateway_id = gateway_id
        self._site_keys = site_keys
        self._opener = EnvelopeOpener(keys, gateway_id, site_keys)

    def seal_to(self, payload: bytes, site_id: str) -> bytes:
        """``payload`` sealed to ``site_id``; ``InputError`` if it has no registered public key."""
        try:
            key = self._site_keys[site_id]
        except KeyError:
            raise InputError(f"site {site_id!r} has no registered public key") from None
        return seal(
            payload, sender=self._keys, sender_id=self._gateway_id, recipient_id=site_id, recipient_key=key
        ).to_bytes()

    def open_from(self, data: bytes, site_id: str) -> bytes:
        """The payload of an envelope ``site_id`` sealed to this gateway; ``EnvelopeError`` or ``InputError``
        (sealed by another site) otherwise."""
        envelope = SealedEnvelope.from_bytes(data)
        payload = self._opener.open(envelope)
        if envelope.sender_id != site_id:
            raise InputError(f"reply was sealed by {envelope.sender_id!r}, not by {site_id!r}")
        return payload

    async def call(self, client: SiteClient, query: SiteQuery, timeout_s: float) -> SentReply:
        """``query`` sealed to the client's site, sent, and its reply opened and checked; ``SiteFailure``
        (with the time and bytes it cost) for anything that went wrong on the way."""
        site_id = client.site_id
        sent_at = time.perf_counter()
        try:
            sealed = self.seal_to(query.to_bytes(), site_id)
        except InputError as error:
            raise SiteFailure(str(error), 0.0, 0) from None
        try:
            data = await client.search(sealed, timeout_s)
        except (RagFedError, OSError) as error:
            raise SiteFailure(str(error), ms_since(sent_at), len(sealed)) from None
        try:
            reply = SiteReply.from_bytes(self.open_from(data, site_id))
            check_reply(reply, query, site_id)
        except RagFedError as error:
            message = f"reply rejected ({type(error).__name__}): {error}"
            raise SiteFailure(message, ms_since(sent_at), len(sealed), len(data)) from None
        return SentReply(reply, ms_since(sent_at), len(sealed), len(data))
