"""rag_fed.wire.arrays: little-endian arrays as canonical base64, read back read-only in native order."""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.wire.arrays import decode_array, encode_array

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("dtype", "native"), [("<f4", np.float32), ("<f8", np.float64), ("<i8", np.int64)])
def test_values_round_trip_read_only(dtype: str, native: type[np.generic]) -> None:
    values = np.array([3, -1, 7], dtype=native)
    decoded = decode_array(encode_array(values, dtype), what="values", dtype=dtype)
    assert decoded.dtype == native
    assert np.array_equal(decoded, values)
    assert not decoded.flags.writeable


def test_a_partial_value_is_refused_naming_what_and_the_type() -> None:
    with pytest.raises(ValueError, match=r"embedding: 5 bytes, not a whole number of float32 values"):
        decode_array("AAAAAAA", what="embedding", dtype="<f4")
