"""Framing of a host batch: the sealed queries of several sites of one site host in one HTTP request, and
their sealed replies (or each site's error) streamed back in one response, each as soon as it is ready.

Every part stays what it is alone: an envelope sealed to (or by) one site, opened by that site's keys
only; the frame around it only says which site it is for. A frame is one ASCII header line
``<site id> <status> <retry after s> <length>\\n`` followed by ``length`` bytes: in a request the status is
200 and the bytes are the sealed ``SiteQuery``; in a response a 200 part holds the sealed ``SiteReply``
and any other status holds the site's error body (``{"error": {"type", "message"}}``), as the site's own
``/v1/site/query`` would have answered. Plain bytes, not JSON: the envelopes are not parsed or copied
into another document on either side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag_fed.crypto.envelope import MAX_ENVELOPE_BYTES
from rag_fed.errors import InputError

__all__ = [
    "BATCH_MEDIA_TYPE",
    "MAX_BATCH_PARTS",
    "BatchPart",
    "PartReader",
    "decode_parts",
    "encode_part",
    "encode_parts",
]

BATCH_MEDIA_TYPE = "application/x-ragfed-batch"
MAX_BATCH_PARTS = 512
_HEADER = re.compile(rb"^([a-z0-9][a-z0-9-]{0,62}) ([1-5][0-9]{2}) ([0-9]{1,6}) ([0-9]{1,9})$")
_MAX_HEADER = 100


@dataclass(frozen=True)
class BatchPart:
    """One site's part of a batch: its sealed bytes (or, with another status than 200, its error body)."""

    site_id: str
    body: bytes
    status: int = 200
    retry_after_s: int = 0


def encode_part(part: BatchPart) -> bytes:
    header = f"{part.site_id} {part.status} {part.retry_after_s} {len(part.body)}\n".encode("ascii")
    return header + part.body


class PartReader:
    """Parts out of a stream of bytes as they arrive: ``feed`` a chunk, get the parts it completed."""

    def __init__(self, max_parts: int = MAX_BATCH_PARTS) -> None:
        self._buffer = bytearray()
        self._want: tuple[BatchPart, int] | None = None  # header read, body length awaited
        self._left = max_parts

    def feed(self, chunk: bytes) -> list[BatchPart]:
        self._buffer += chunk
        parts: list[BatchPart] = []
        while True:
            if self._want is None:
                end = self._buffer.find(b"\n", 0, _MAX_HEADER + 1)
                if end < 0:
                    if len(self._buffer) > _MAX_HEADER:
                        raise InputError("malformed batch: a part header is too long")
                    return parts
                self._want = _header(bytes(self._buffer[:end]))
                del self._buffer[: end + 1]
            head, length = self._want
            if len(self._buffer) < length:
                return parts
            if self._left == 0:
                raise InputError(f"a batch holds at most {MAX_BATCH_PARTS} parts")
            self._left -= 1
            parts.append(BatchPart(head.site_id, bytes(self._buffer[:length]), head.status, head.retry_after_s))
            del self._buffer[:length]
            self._want = None

    @property
    def complete(self) -> bool:
        """Whether every byte fed so far belongs to a whole part (nothing is left half-read)."""
        return self._want is None and not self._buffer


def decode_parts(data: bytes, max_parts: int = MAX_BATCH_PARTS) -> list[BatchPart]:
    """Every part of a whole batch body; ``InputError`` if it is malformed or cut short."""
    reader = PartReader(max_parts)
    parts = reader.feed(data)
    if not reader.complete:
        raise InputError("malformed batch: the body ends inside a part")
    return parts


def _header(line: bytes) -> tuple[BatchPart, int]:
    match = _HEADER.match(line)
    if match is None:
        raise InputError("malformed batch: a part header is not '<site id> <status> <retry after> <length>'")
    length = int(match.group(4))
    if length > MAX_ENVELOPE_BYTES:
        raise InputError(f"a batch part of {length} bytes exceeds the envelope limit of {MAX_ENVELOPE_BYTES}")
    head = BatchPart(match.group(1).decode("ascii"), b"", int(match.group(2)), int(match.group(3)))
    return head, length


def encode_parts(parts: Iterable[BatchPart]) -> bytes:
    """A whole batch body."""
    return b"".join(encode_part(part) for part in parts)
