"""Canonical URL-safe base64 (no padding) for keys, nonces and ciphertexts on the wire.

Decoding is strict: the text must be exactly what :func:`encode_b64` would produce for the decoded
bytes. Lenient decoders accept several spellings of the same bytes (unused trailing bits, stray
characters), which would let a modified envelope decode to identical bytes and still open.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["decode_b64", "encode_b64"]

_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def encode_b64(raw: bytes) -> str:
    """URL-safe base64 without ``=`` padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_b64(text: str, *, what: str, size: int | None = None) -> bytes:
    """Decode canonical unpadded URL-safe base64; raise ``ValueError`` naming ``what`` otherwise.

    ``size`` (if given) is the exact number of bytes expected. ``ValueError`` is the right type here:
    callers are pydantic validators and parsers that translate it into a rag-fed error for their layer.
    """
    if not text.isascii():
        raise ValueError(f"{what} is not base64 (non-ASCII characters)")
    if "=" in text or "+" in text or "/" in text:
        raise ValueError(f"{what} is not canonical URL-safe base64 without padding")
    padded = text.encode("ascii").translate(_URL_SAFE_TO_STANDARD) + b"=" * (-len(text) % 4)
    try:
        # strict_mode: only the alphabet, padding only at the end (what b64decode's validate=True checks
        # with a regular expression, in C and without it); the canonical check below does the rest
        raw = binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{what} is not valid URL-safe base64: {error}") from None
    # What is left of canonical: a last group of 2 or 3 characters has unused low bits, which must be 0.
    # Only that group can differ from encode_b64(raw), so only it is encoded again (not the whole text).
    tail = len(text) % 4
    if tail and encode_b64(raw[len(raw) - (tail - 1) :]) != text[-tail:]:
        raise ValueError(f"{what} is not canonical URL-safe base64 without padding")
    if size is not None and len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw
