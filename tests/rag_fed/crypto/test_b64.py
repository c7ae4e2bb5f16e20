"""Canonical base64: exactly one accepted spelling for each byte string."""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rag_fed.crypto.b64 import decode_b64, encode_b64

pytestmark = pytest.mark.unit


@given(st.binary(max_size=100))
def test_round_trip(raw: bytes) -> None:
    text = encode_b64(raw)
    assert "=" not in text
    assert decode_b64(text, what="x") == raw


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("AAE=", "not canonical"),  # padding
        ("AAF", "not canonical"),  # unused trailing bits set
        ("+/8", "not canonical"),  # standard alphabet instead of URL-safe
        ("AA E", "not valid"),
        ("AAAAA", "not valid"),  # impossible length
        ("AAé", "non-ASCII"),
    ],
)
def test_every_other_spelling_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_b64(text, what="field")


def test_size_is_enforced() -> None:
    with pytest.raises(ValueError, match="must be 4 bytes, got 3"):
        decode_b64(encode_b64(b"abc"), what="field", size=4)


def _reference_decode(text: str) -> bytes | None:
    """The decoder as it was before it used ``binascii``'s strict mode: ``b64decode(validate=True)``."""
    if not text.isascii():
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if encode_b64(raw) == text else None


@given(st.text(alphabet="AQgwBa09-_+/= .\né", max_size=12))
def test_it_accepts_and_refuses_exactly_what_the_regular_expression_decoder_did(text: str) -> None:
    try:
        decoded: bytes | None = decode_b64(text, what="x")
    except ValueError:
        decoded = None
    assert decoded == _reference_decode(text)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=", max_size=40))
def test_the_canonical_check_refuses_what_encoding_again_would(text: str) -> None:
    """Canonical is checked without encoding all the bytes again (padding, standard alphabet, the last
    group's unused bits), over the whole alphabet and texts of several groups: it must accept exactly the
    texts that ``encode_b64`` gives back unchanged."""
    try:
        decoded: bytes | None = decode_b64(text, what="x")
    except ValueError:
        decoded = None
    assert decoded == _reference_decode(text)
