"""Host batch framing: parts survive any cut of the stream, and malformed batches are refused."""

from __future__ import annotations

import random

import pytest

from rag_fed.errors import InputError
from rag_fed.wire.batch import BatchPart, PartReader, decode_parts, encode_parts

pytestmark = pytest.mark.unit

PARTS = [
    BatchPart("plant-a", b'{"sealed": "a"}'),
    BatchPart("plant-b", b"\n\n binary \x00\xff and a newline\n", 429, 3),
    BatchPart("plant-c", b""),
]


def test_parts_round_trip() -> None:
    assert decode_parts(encode_parts(PARTS)) == PARTS


@pytest.mark.parametrize("seed", range(5))
def test_parts_arrive_whole_whatever_the_chunks(seed: int) -> None:
    data = encode_parts(PARTS * 3)
    cuts = sorted(random.Random(seed).sample(range(1, len(data)), 12))
    reader = PartReader()
    got = [
        part for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True) for part in reader.feed(data[start:end])
    ]
    assert got == PARTS * 3 and reader.complete


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Plant-A 200 0 3\nabc", "header"),
        (b"plant-a 200 0 5\nabc", "ends inside a part"),
        (b"plant-a 200 0 99999999\n", "exceeds the envelope limit"),
        (b"x" * 200, "too long"),
    ],
)
def test_malformed_batches_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        decode_parts(data)


def test_a_batch_holds_a_bounded_number_of_parts() -> None:
    with pytest.raises(InputError, match="at most"):
        decode_parts(encode_parts(PARTS), max_parts=2)
