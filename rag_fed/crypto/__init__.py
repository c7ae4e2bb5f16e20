"""Node keys and sealed envelopes: how the gateway and the sites talk privately and authentically."""

from rag_fed.crypto.envelope import ENVELOPE_VERSION, EnvelopeOpener, SealedEnvelope, seal
from rag_fed.crypto.ids import validate_node_id
from rag_fed.crypto.keys import (
    KeyPair,
    fingerprint,
    load_public_key,
    public_key_from_text,
    public_key_to_text,
)
from rag_fed.crypto.replay import ReplayGuard

__all__ = [
    "ENVELOPE_VERSION",
    "EnvelopeOpener",
    "KeyPair",
    "ReplayGuard",
    "SealedEnvelope",
    "fingerprint",
    "load_public_key",
    "public_key_from_text",
    "public_key_to_text",
    "seal",
    "validate_node_id",
]
