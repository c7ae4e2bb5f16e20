"""Sealed envelopes between the gateway and the sites: libsodium Box (X25519 + XSalsa20-Poly1305).

A Box authenticates both ways: only the recipient can open it, and opening proves it was sealed with
the registered sender's private key. The clear header (version, ids, timestamp) routes and screens
envelopes before any decryption; a copy of it travels inside the ciphertext so a modified header is
caught. Opening checks, cheapest first: version, recipient, sender key, timestamp, nonce seen, MAC,
header copy; the nonce is recorded only after the MAC passed, so garbage cannot fill the replay cache.
"""

from __future__ import annotations

import functools
import logging
import struct
import time
from collections.abc import Callable, Mapping
from typing import Annotated

import nacl.utils
from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError

from rag_fed.crypto.b64 import decode_b64, encode_b64
from rag_fed.crypto.ids import NODE_ID_PATTERN, validate_node_id
from rag_fed.crypto.keys import KEY_BYTES, KeyPair
from rag_fed.crypto.replay import ReplayGuard
from rag_fed.errors import (
    ConfigError,
    EnvelopeError,
    ExpiredEnvelopeError,
    ForgedEnvelopeError,
    ReplayedEnvelopeError,
    TamperedEnvelopeError,
    WrongRecipientError,
)

__all__ = ["ENVELOPE_VERSION", "MAX_ENVELOPE_BYTES", "EnvelopeOpener", "SealedEnvelope", "seal"]

ENVELOPE_VERSION = 1
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
NONCE_BYTES = 24
_MAC_BYTES = 16
# Inner header: version, sent_at, then the two ids each prefixed by a one-byte length (ids are ASCII,
# at most 63 characters). Binary so that the float timestamp compares exactly.
_INNER_FIXED = struct.Struct(">Hd")
_MIN_CIPHERTEXT = _MAC_BYTES + _INNER_FIXED.size + 2 + 2

_log = logging.getLogger(__name__)
# Pairs of (own key, peer key) whose shared key is kept: a federation's sites and gateways, and then some.
_BOX_CACHE_PAIRS = 4096


def _base64_bytes(what: str, *, size: int | None = None, min_size: int = 0) -> Callable[[object], bytes]:
    def validate(value: object) -> bytes:
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            raw = decode_b64(value, what=what)
        else:
            raise ValueError(f"{what} must be base64 text")
        if size is not None and len(raw) != size:
            raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
        if len(raw) < min_size:
            raise ValueError(f"{what} is too short ({len(raw)} bytes)")
        return raw

    return validate


_AS_BASE64 = PlainSerializer(encode_b64, return_type=str, when_used="json")
_SenderKey = Annotated[bytes, PlainValidator(_base64_bytes("sender_key", size=KEY_BYTES)), _AS_BASE64]
_Nonce = Annotated[bytes, PlainValidator(_base64_bytes("nonce", size=NONCE_BYTES)), _AS_BASE64]
_Ciphertext = Annotated[bytes, PlainValidator(_base64_bytes("ciphertext", min_size=_MIN_CIPHERTEXT)), _AS_BASE64]
_NodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN)]


class SealedEnvelope(BaseModel):
    """The wire form. Bytes fields hold raw bytes in Python and canonical base64 text in JSON."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    version: int = Field(ge=1)
    sender_id: _NodeId
    recipient_id: _NodeId
    sender_key: _SenderKey
    nonce: _Nonce
    sent_at: float = Field(allow_inf_nan=False)
    ciphertext: _Ciphertext

    def to_bytes(self) -> bytes:
        """Compact JSON (no whitespace)."""
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedEnvelope:
        """Parse :meth:`to_bytes` output; ``TamperedEnvelopeError`` for anything malformed."""
        if len(data) > MAX_ENVELOPE_BYTES:
            raise EnvelopeError(f"envelope of {len(data)} bytes exceeds the {MAX_ENVELOPE_BYTES} byte limit")
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            raise TamperedEnvelopeError(f"malformed envelope: {_summarise(error)}") from None


def seal(
    payload: bytes,
    *,
    sender: KeyPair,
    sender_id: str,
    recipient_id: str,
    recipient_key: PublicKey,
    now: Callable[[], float] = time.time,
) -> SealedEnvelope:
    """Encrypt and authenticate ``payload`` from ``sender`` to the holder of ``recipient_key``."""
    validate_node_id(sender_id, what="sender id")
    validate_node_id(recipient_id, what="recipient id")
    # Millisecond resolution: every distinct JSON spelling of the timestamp is then a distinct float,
    # so an edited digit can never parse back to the sealed value.
    sent_at = round(now(), 3)
    nonce: bytes = nacl.utils.random(NONCE_BYTES)
    inner = _pack_inner(ENVELOPE_VERSION, sender_id, recipient_id, sent_at) + payload
    encrypted = _box(bytes(sender.private_key), bytes(recipient_key)).encrypt(inner, nonce)
    return SealedEnvelope(
        version=ENVELOPE_VERSION,
        sender_id=sender_id,
        recipient_id=recipient_id,
        sender_key=bytes(sender.public_key),
        nonce=nonce,
        sent_at=sent_at,
        ciphertext=bytes(encrypted.ciphertext),
    )


class EnvelopeOpener:
    """Opens envelopes addressed to ``own_id`` from the senders in ``known_senders``.

    ``known_senders`` is read on every call, so a live mapping (e.g. the registry's view) makes key
    rotation and site removal take effect at once. After :meth:`open` returns, the envelope's header
    fields are authenticated and may be trusted (e.g. ``sender_id``).
    """

    def __init__(
        self,
        own_keys: KeyPair,
        own_id: str,
        known_senders: Mapping[str, PublicKey],
        *,
        max_age_s: float = 60.0,
        clock_skew_s: float = 5.0,
        replay_guard: ReplayGuard | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if max_age_s <= 0 or clock_skew_s < 0:
            raise ConfigError(f"max_age_s must be > 0 and clock_skew_s >= 0, got {max_age_s} and {clock_skew_s}")
        guard = replay_guard if replay_guard is not None else ReplayGuard(max_age_s + clock_skew_s)
        if guard.window_s < max_age_s + clock_skew_s:
            raise ConfigError(
                f"replay guard window {guard.window_s} s is shorter than max_age_s + clock_skew_s "
                f"({max_age_s + clock_skew_s} s): a replay could slip through after the guard forgets it"
            )
        self._keys = own_keys
        self._own_id = validate_node_id(own_id, what="own id")
        self._known_senders = known_senders
        self._max_age_s = max_age_s
        self._clock_skew_s = clock_skew_s
        self._guard = guard
        self._now = now

    def open_bytes(self, data: bytes) -> bytes:
        """Parse and open a serialised envelope."""
        try:
            envelope = SealedEnvelope.from_bytes(data)
        except EnvelopeError as error:
            _log.warning("envelope rejected (%s): %s", type(error).__name__, error)
            raise
        return self.open(envelope)

    def open(self, envelope: SealedEnvelope) -> bytes:
        """Return the payload, or raise the ``EnvelopeError`` subclass naming why it was rejected."""
        try:
            return self._open(envelope)
        except EnvelopeError as error:
            # Ids are attacker-controlled until authenticated: %r keeps them on one log line.
            _log.warning(
                "envelope rejected (%s) from %r to %r: %s",
                type(error).__name__,
                envelope.sender_id,
                envelope.recipient_id,
                error,
            )
            raise

    def _open(self, envelope: SealedEnvelope) -> bytes:
        if envelope.version != ENVELOPE_VERSION:
            raise EnvelopeError(f"unsupported envelope version {envelope.version}; this node speaks {ENVELOPE_VERSION}")
        if envelope.recipient_id != self._own_id:
            raise WrongRecipientError(
                f"envelope is addressed to {envelope.recipient_id!r}, this node is {self._own_id!r}"
            )
        registered = self._known_senders.get(envelope.sender_id)
        if registered is None:
            raise ForgedEnvelopeError(f"unknown sender {envelope.sender_id!r}; register its public key first")
        if bytes(registered) != envelope.sender_key:
            raise ForgedEnvelopeError(f"sender {envelope.sender_id!r} used a key that is not its registered key")
        now = self._now()
        age = now - envelope.sent_at
        if age > self._max_age_s:
            raise ExpiredEnvelopeError(f"envelope was sealed {age:.1f} s ago; the limit is {self._max_age_s} s")
        if -age > self._clock_skew_s:
            raise ExpiredEnvelopeError(
                f"envelope is dated {-age:.1f} s in the future (allowed skew {self._clock_skew_s} s); "
                "check that both clocks are synchronised (NTP)"
            )
        if self._guard.seen(envelope.nonce, now):
            raise ReplayedEnvelopeError("envelope nonce was already accepted: a replay")
        try:
            inner = _box(bytes(self._keys.private_key), bytes(registered)).decrypt(envelope.ciphertext, envelope.nonce)
        except CryptoError:
            raise TamperedEnvelopeError(
                "envelope failed authentication: modified in transit or not sealed for this node's key"
            ) from None
        payload = _check_inner(bytes(inner), envelope)
        # Recorded only now, after the MAC passed; the atomic check also catches a concurrent copy.
        if not self._guard.check_and_remember(envelope.nonce, now):
            raise ReplayedEnvelopeError("envelope nonce was already accepted: a replay")
        return payload


@functools.lru_cache(maxsize=_BOX_CACHE_PAIRS)
def _box(private_key: bytes, peer_key: bytes) -> Box:
    """The box of one key pair and one peer: its X25519 shared key is computed once (about 37 us, ten
    times the encryption of a query) rather than for every envelope. Keyed by the keys themselves, so a
    rotated key gets a new box; the private key is in memory anyway, and the shared key adds no access."""
    return Box(PrivateKey(private_key), PublicKey(peer_key))


def _pack_inner(version: int, sender_id: str, recipient_id: str, sent_at: float) -> bytes:
    sender, recipient = sender_id.encode("ascii"), recipient_id.encode("ascii")
    return b"".join(
        (
            _INNER_FIXED.pack(version, sent_at),
            bytes([len(sender)]),
            sender,
            bytes([len(recipient)]),
            recipient,
        )
    )


def _check_inner(inner: bytes, envelope: SealedEnvelope) -> bytes:
    """Compare the sealed header copy with the clear header and return the payload after it."""
    try:
        version, sent_at = _INNER_FIXED.unpack_from(inner)
        offset = _INNER_FIXED.size
        ids: list[str] = []
        for _ in range(2):
            length = inner[offset]
            ids.append(inner[offset + 1 : offset + 1 + length].decode("ascii"))
            offset += 1 + length
    except (struct.error, IndexError, UnicodeDecodeError):
        raise TamperedEnvelopeError("sealed header is malformed (the sender's software is broken)") from None
    sealed = (version, ids[0], ids[1], sent_at)
    clear = (envelope.version, envelope.sender_id, envelope.recipient_id, envelope.sent_at)
    if sealed != clear:
        raise TamperedEnvelopeError("envelope header does not match the sealed copy: it was modified")
    return inner[offset:]


def _summarise(error: ValidationError) -> str:
    # Field locations and messages only: the input may be megabytes of ciphertext.
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)[:3]
    ]
    return "; ".join(parts)
