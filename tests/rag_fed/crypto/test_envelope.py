"""Sealing and opening envelopes: the round trip, and one distinct error for each way to reject one."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from rag_fed.crypto import EnvelopeOpener, KeyPair, ReplayGuard, SealedEnvelope, seal
from rag_fed.crypto.b64 import decode_b64
from rag_fed.errors import (
    ConfigError,
    EnvelopeError,
    ExpiredEnvelopeError,
    ForgedEnvelopeError,
    ReplayedEnvelopeError,
    TamperedEnvelopeError,
    WrongRecipientError,
)

pytestmark = pytest.mark.unit

GATEWAY, SITE = "gateway", "plant-1"
PAYLOAD = b'{"question": "why does pump P-101 cavitate?"}'


class ManualClock:
    """A wall clock that moves only when the test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def site_opener(site_keys: KeyPair, gateway_keys: KeyPair, clock: ManualClock) -> EnvelopeOpener:
    return EnvelopeOpener(site_keys, SITE, {GATEWAY: gateway_keys.public_key}, now=clock)


@pytest.fixture
def envelope(gateway_keys: KeyPair, site_keys: KeyPair, clock: ManualClock) -> SealedEnvelope:
    return seal(
        PAYLOAD,
        sender=gateway_keys,
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_seal_then_open_returns_the_payload(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    assert site_opener.open_bytes(envelope.to_bytes()) == PAYLOAD


def test_open_accepts_the_python_object_and_an_empty_payload(
    site_opener: EnvelopeOpener, gateway_keys: KeyPair, site_keys: KeyPair, clock: ManualClock
) -> None:
    empty = seal(
        b"",
        sender=gateway_keys,
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    assert site_opener.open(empty) == b""


def test_wire_form_is_compact_json_with_base64_fields_and_no_plaintext(envelope: SealedEnvelope) -> None:
    wire = envelope.to_bytes()
    fields = json.loads(wire)
    assert set(fields) == {
        "version",
        "sender_id",
        "recipient_id",
        "sender_key",
        "nonce",
        "sent_at",
        "ciphertext",
    }
    assert b" " not in wire
    assert len(decode_b64(fields["nonce"], what="nonce")) == 24
    assert b"cavitate" not in wire
    assert SealedEnvelope.from_bytes(wire) == envelope


def test_each_seal_uses_a_fresh_nonce(
    gateway_keys: KeyPair, site_keys: KeyPair, envelope: SealedEnvelope, clock: ManualClock
) -> None:
    again = seal(
        PAYLOAD,
        sender=gateway_keys,
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    assert again.nonce != envelope.nonce
    assert again.ciphertext != envelope.ciphertext


def test_a_flipped_ciphertext_byte_is_tampered(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    forged = envelope.model_copy(update={"ciphertext": _flip(envelope.ciphertext, 20)})
    with pytest.raises(TamperedEnvelopeError, match="failed authentication"):
        site_opener.open(forged)


def test_an_edited_header_timestamp_is_tampered(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    shifted = envelope.model_copy(update={"sent_at": envelope.sent_at + 1.0})
    with pytest.raises(TamperedEnvelopeError, match="does not match the sealed copy"):
        site_opener.open(shifted)


def test_a_header_sender_swapped_between_ids_sharing_a_key_is_tampered(
    site_keys: KeyPair, gateway_keys: KeyPair, clock: ManualClock, envelope: SealedEnvelope
) -> None:
    # Only the sealed copy of the header can catch this: the key check and the MAC both pass.
    same_key_twice = {GATEWAY: gateway_keys.public_key, "gateway-b": gateway_keys.public_key}
    opener = EnvelopeOpener(site_keys, SITE, same_key_twice, now=clock)
    with pytest.raises(TamperedEnvelopeError, match="does not match the sealed copy"):
        opener.open(envelope.model_copy(update={"sender_id": "gateway-b"}))


def test_the_same_envelope_twice_is_replayed(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    site_opener.open(envelope)
    with pytest.raises(ReplayedEnvelopeError):
        site_opener.open(envelope)


def test_a_garbage_copy_does_not_poison_the_replay_cache(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    garbage = envelope.model_copy(update={"ciphertext": _flip(envelope.ciphertext, 30)})
    with pytest.raises(TamperedEnvelopeError):
        site_opener.open(garbage)
    assert site_opener.open(envelope) == PAYLOAD


def test_concurrent_copies_open_exactly_once(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    def attempt(_: int) -> bool:
        try:
            site_opener.open(envelope)
        except ReplayedEnvelopeError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(32)))
    assert results.count(True) == 1


def test_an_envelope_older_than_max_age_is_expired(
    site_opener: EnvelopeOpener, envelope: SealedEnvelope, clock: ManualClock
) -> None:
    clock.now += 60.5
    with pytest.raises(ExpiredEnvelopeError, match="ago"):
        site_opener.open(envelope)


def test_an_envelope_at_the_age_limit_still_opens(
    site_opener: EnvelopeOpener, envelope: SealedEnvelope, clock: ManualClock
) -> None:
    clock.now += 59.9
    assert site_opener.open(envelope) == PAYLOAD


def test_a_future_dated_envelope_is_expired_beyond_the_skew_only(
    gateway_keys: KeyPair, site_keys: KeyPair, clock: ManualClock
) -> None:
    opener = EnvelopeOpener(site_keys, SITE, {GATEWAY: gateway_keys.public_key}, now=clock)

    def sealed_at(when: float) -> SealedEnvelope:
        return seal(
            PAYLOAD,
            sender=gateway_keys,
            sender_id=GATEWAY,
            recipient_id=SITE,
            recipient_key=site_keys.public_key,
            now=lambda: when,
        )

    with pytest.raises(ExpiredEnvelopeError, match="future"):
        opener.open(sealed_at(clock.now + 10))
    assert opener.open(sealed_at(clock.now + 4)) == PAYLOAD


def test_an_envelope_for_another_site_is_wrong_recipient(
    gateway_keys: KeyPair, envelope: SealedEnvelope, clock: ManualClock
) -> None:
    other_site = EnvelopeOpener(KeyPair.generate(), "plant-2", {GATEWAY: gateway_keys.public_key}, now=clock)
    with pytest.raises(WrongRecipientError, match="plant-1"):
        other_site.open(envelope)


def test_an_envelope_addressed_to_us_but_sealed_to_another_key_is_tampered(
    site_opener: EnvelopeOpener, gateway_keys: KeyPair, clock: ManualClock
) -> None:
    misaddressed = seal(
        PAYLOAD,
        sender=gateway_keys,
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=KeyPair.generate().public_key,
        now=clock,
    )
    with pytest.raises(TamperedEnvelopeError):
        site_opener.open(misaddressed)


def test_an_unknown_sender_is_forged(site_opener: EnvelopeOpener, site_keys: KeyPair, clock: ManualClock) -> None:
    stranger = seal(
        PAYLOAD,
        sender=KeyPair.generate(),
        sender_id="intruder",
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    with pytest.raises(ForgedEnvelopeError, match="unknown sender 'intruder'"):
        site_opener.open(stranger)


def test_the_right_sender_id_with_another_key_is_forged(
    site_opener: EnvelopeOpener, site_keys: KeyPair, clock: ManualClock
) -> None:
    impostor = seal(
        PAYLOAD,
        sender=KeyPair.generate(),
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    with pytest.raises(ForgedEnvelopeError, match="not its registered key"):
        site_opener.open(impostor)


def test_claiming_the_registered_key_without_its_private_half_fails_authentication(
    site_opener: EnvelopeOpener, gateway_keys: KeyPair, site_keys: KeyPair, clock: ManualClock
) -> None:
    impostor = seal(
        PAYLOAD,
        sender=KeyPair.generate(),
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    borrowed_key = impostor.model_copy(update={"sender_key": bytes(gateway_keys.public_key)})
    with pytest.raises(TamperedEnvelopeError):
        site_opener.open(borrowed_key)


def test_replies_are_authenticated_the_other_way(
    gateway_keys: KeyPair, site_keys: KeyPair, envelope: SealedEnvelope, clock: ManualClock
) -> None:
    gateway = EnvelopeOpener(gateway_keys, GATEWAY, {SITE: site_keys.public_key}, now=clock)
    reply = seal(
        b"reply",
        sender=site_keys,
        sender_id=SITE,
        recipient_id=GATEWAY,
        recipient_key=gateway_keys.public_key,
        now=clock,
    )
    assert gateway.open(reply) == b"reply"
    with pytest.raises(WrongRecipientError):
        gateway.open(envelope)  # the gateway's own query is not addressed to it


def test_an_unknown_version_is_refused_by_name(site_opener: EnvelopeOpener, envelope: SealedEnvelope) -> None:
    with pytest.raises(EnvelopeError, match="unsupported envelope version 2") as caught:
        site_opener.open(envelope.model_copy(update={"version": 2}))
    assert type(caught.value) is EnvelopeError


@pytest.mark.parametrize(
    "mangle",
    [
        lambda wire: b"not json",
        lambda wire: b"{}",
        lambda wire: wire.replace(b'"version":1', b'"version":"1"'),
        lambda wire: wire[:-1] + b',"extra":1}',
        lambda wire: wire.replace(b'"nonce":"', b'"nonce":"*'),
        lambda wire: wire.replace(b'","sent_at"', b'=","sent_at"'),
    ],
    ids=["not-json", "empty-object", "version-as-text", "extra-field", "bad-base64", "padded-base64"],
)
def test_malformed_wire_bytes_are_tampered(
    site_opener: EnvelopeOpener, envelope: SealedEnvelope, mangle: Callable[[bytes], bytes]
) -> None:
    with pytest.raises(TamperedEnvelopeError, match="malformed envelope"):
        site_opener.open_bytes(mangle(envelope.to_bytes()))


def test_a_non_canonical_base64_spelling_of_the_same_key_is_refused(envelope: SealedEnvelope) -> None:
    # 32 bytes use 43 characters; the last one carries 2 unused bits. Setting them gives the same bytes
    # to a lenient decoder, so accepting it would let an edited envelope open.
    fields = json.loads(envelope.to_bytes())
    key = fields["sender_key"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    fields["sender_key"] = key[:-1] + alphabet[alphabet.index(key[-1]) ^ 1]
    with pytest.raises(TamperedEnvelopeError, match="canonical"):
        SealedEnvelope.from_bytes(json.dumps(fields).encode())


def test_an_oversized_envelope_is_refused_before_parsing(site_opener: EnvelopeOpener) -> None:
    with pytest.raises(EnvelopeError, match="exceeds"):
        site_opener.open_bytes(b" " * (16 * 1024 * 1024 + 1))


def test_rejections_are_logged_with_reason_and_sender_but_no_payload(
    site_opener: EnvelopeOpener,
    gateway_keys: KeyPair,
    site_keys: KeyPair,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = seal(
        b"SECRET-VALVE-SETTING",
        sender=gateway_keys,
        sender_id=GATEWAY,
        recipient_id=SITE,
        recipient_key=site_keys.public_key,
        now=clock,
    )
    caplog.set_level(logging.WARNING, logger="rag_fed.crypto.envelope")
    with pytest.raises(TamperedEnvelopeError):
        site_opener.open(secret.model_copy(update={"ciphertext": _flip(secret.ciphertext, 40)}))
    assert "TamperedEnvelopeError" in caplog.text
    assert "'gateway'" in caplog.text
    assert "SECRET" not in caplog.text


def test_a_replay_guard_shorter_than_the_acceptance_window_is_refused(
    site_keys: KeyPair, gateway_keys: KeyPair
) -> None:
    with pytest.raises(ConfigError, match="shorter than"):
        EnvelopeOpener(site_keys, SITE, {GATEWAY: gateway_keys.public_key}, replay_guard=ReplayGuard(30))


def test_a_rotated_key_seals_and_opens_with_its_own_shared_key_while_the_old_one_is_refused() -> None:
    # The shared key of each (own key, peer key) pair is kept between envelopes; a new key is a new pair.
    site, old, new = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    senders = {GATEWAY: old.public_key}
    opener = EnvelopeOpener(site, SITE, senders)

    def sealed_by(keys: KeyPair) -> SealedEnvelope:
        return seal(PAYLOAD, sender=keys, sender_id=GATEWAY, recipient_id=SITE, recipient_key=site.public_key)

    assert opener.open(sealed_by(old)) == PAYLOAD
    assert opener.open(sealed_by(old)) == PAYLOAD, "a second envelope of the same pair"
    senders[GATEWAY] = new.public_key  # the gateway rotated its key
    assert opener.open(sealed_by(new)) == PAYLOAD
    with pytest.raises(ForgedEnvelopeError):
        opener.open(sealed_by(old))
    forged = sealed_by(new).model_copy(update={"ciphertext": sealed_by(old).ciphertext})
    with pytest.raises(TamperedEnvelopeError):
        opener.open(forged)
