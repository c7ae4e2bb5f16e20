"""Numeric arrays on the wire: canonical base64 (``rag_fed.crypto.b64``) of little-endian values."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rag_fed.crypto.b64 import decode_b64, encode_b64

__all__ = ["decode_array", "encode_array"]

_NAMES = {"<f4": "float32", "<f8": "float64", "<i8": "int64", "<u8": "uint64", "<u4": "uint32"}


def decode_array(text: str, *, what: str, dtype: str) -> NDArray[Any]:
    """The values of ``dtype`` (little-endian, e.g. ``"<f8"``) that ``text`` encodes, read-only in native
    order; ``ValueError`` naming ``what`` when the text is not canonical base64 or its bytes are not a
    whole number of values."""
    raw = decode_b64(text, what=what)
    wire, native = _dtypes(dtype)
    if len(raw) % wire.itemsize:
        raise ValueError(f"{what}: {len(raw)} bytes, not a whole number of {_NAMES.get(dtype, dtype)} values")
    values = np.frombuffer(raw, dtype=wire)  # a view of bytes: read-only
    if wire != native:  # a big-endian machine
        values = values.astype(native)
        values.setflags(write=False)
    return values


@cache
def _dtypes(dtype: str) -> tuple[np.dtype[Any], np.dtype[Any]]:
    """``dtype`` as on the wire and in native byte order (the same on a little-endian machine)."""
    wire = np.dtype(dtype)
    return wire, wire.newbyteorder("=")


def encode_array(values: object, dtype: str) -> str:
    """``values`` as base64 text of little-endian ``dtype``."""
    return encode_b64(np.asarray(values, dtype).tobytes())
