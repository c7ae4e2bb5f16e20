"""Property tests: no single-byte edit of a serialised envelope ever opens; any payload round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag_fed.crypto import EnvelopeOpener, KeyPair, SealedEnvelope, seal
from rag_fed.errors import EnvelopeError

pytestmark = pytest.mark.unit

GATEWAY, SITE = "gateway", "plant-1"
# Full float precision, as time.time() gives: neighbouring 17-digit spellings of it parse to the same
# float, so the wire timestamp must be coarser than that or an edited digit could still open.
NOW = 1_700_000_000.123456789
GATEWAY_KEYS, SITE_KEYS = KeyPair.generate(), KeyPair.generate()
WIRE = seal(
    b'{"question":"hydraulic pressure drops after warm-up","k":5}',
    sender=GATEWAY_KEYS,
    sender_id=GATEWAY,
    recipient_id=SITE,
    recipient_key=SITE_KEYS.public_key,
    now=lambda: NOW,
).to_bytes()


def _fresh_opener() -> EnvelopeOpener:
    # A fresh replay cache each time, so a rejection can only come from the edit itself.
    return EnvelopeOpener(SITE_KEYS, SITE, {GATEWAY: GATEWAY_KEYS.public_key}, now=lambda: NOW)


def test_the_unedited_envelope_opens() -> None:
    assert _fresh_opener().open_bytes(WIRE).startswith(b'{"question"')


@settings(max_examples=400, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(WIRE) - 1), mask=st.integers(min_value=1, max_value=255))
def test_any_single_byte_flip_never_opens(position: int, mask: int) -> None:
    edited = WIRE[:position] + bytes([WIRE[position] ^ mask]) + WIRE[position + 1 :]
    with pytest.raises(EnvelopeError):
        _fresh_opener().open_bytes(edited)


def test_every_other_digit_in_the_timestamp_never_opens() -> None:
    start = WIRE.index(b'"sent_at":') + len(b'"sent_at":')
    end = WIRE.index(b",", start)
    for position in range(start, end):
        for digit in b"0123456789":
            if WIRE[position] in (digit, ord(".")):
                continue
            edited = WIRE[:position] + bytes([digit]) + WIRE[position + 1 :]
            with pytest.raises(EnvelopeError):
                _fresh_opener().open_bytes(edited)


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(max_size=4096))
def test_any_payload_round_trips_through_the_wire(payload: bytes) -> None:
    envelope = seal(
        payload,
        sender=SITE_KEYS,
        sender_id=SITE,
        recipient_id=GATEWAY,
        recipient_key=GATEWAY_KEYS.public_key,
        now=lambda: NOW,
    )
    gateway = EnvelopeOpener(GATEWAY_KEYS, GATEWAY, {SITE: SITE_KEYS.public_key}, now=lambda: NOW)
    assert gateway.open_bytes(SealedEnvelope.from_bytes(envelope.to_bytes()).to_bytes()) == payload
