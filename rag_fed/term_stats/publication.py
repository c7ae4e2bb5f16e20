"""What a site publishes about its keyword index, sealed to the gateway: chunk count, tokens per FTS5
column, and the document frequency of each term keyed by ``HMAC-SHA256(federation key, term)`` cut to
64 bits, never the term itself (docs/term-statistics.md says what that does and does not hide).

The gateway asks with a sealed ``TermStatsRequest`` that carries the federation's key; the site answers
with a sealed ``TermStatsPublication``. Counts below the site's floor are left out, and with noise
(``PublicationPolicy.epsilon``) every count is noised before the floor applies.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from indexes.term_counts import TermCounts
from rag_fed.crypto.b64 import decode_b64, encode_b64
from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.protocol import MAX_QUESTION_CHARS
from rag_fed.term_stats.privacy import add_noise
from rag_fed.wire.arrays import decode_array, encode_array
from rag_fed.wire.message import SealedMessage

__all__ = [
    "KEY_BYTES",
    "PhraseCounts",
    "PublicationPolicy",
    "TermStatsPublication",
    "TermStatsRequest",
    "build_publication",
    "key_id",
    "noised",
    "term_hashes",
]

KEY_BYTES = 32
_HASH = np.dtype("<u8")
_COUNT = np.dtype("<u4")
_NO_HASHES = np.zeros(0, np.uint64)
_NO_COUNTS = np.zeros(0, np.uint32)
_RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def term_hashes(key: bytes, terms: Sequence[str]) -> NDArray[np.uint64]:
    """Each term's keyed hash: the first 8 bytes of HMAC-SHA256(key, term), little-endian. 64 bits keep
    collisions negligible (a million terms: about 3 in 10^8 that any two collide)."""
    digests = b"".join(hmac.new(key, term.encode("utf-8"), hashlib.sha256).digest()[:8] for term in terms)
    return np.frombuffer(digests, dtype=_HASH).astype(np.uint64)


def key_id(key: bytes) -> str:
    """A name for a federation key that does not reveal it (which key a publication was hashed with)."""
    return hashlib.sha256(b"rag-fed term-stats key id\0" + key).hexdigest()[:16]


class PublicationPolicy(BaseModel):
    """A site's choice of what it publishes. ``floor``: a term is published only when (noisy) at least
    this many chunks hold it (1: every term); ``epsilon``: discrete Laplace noise of this parameter on
    every count (``None``: exact counts). Exact counts with floor 1 give BM25 scores equal to a central
    index's; docs/benchmarks.md measures what the floor and noise cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    publish: bool = True
    floor: int = Field(default=1, ge=1)
    epsilon: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class TermStatsRequest(SealedMessage):
    """The gateway asks a site for its term statistics, hashed with the federation's key (sealed, so
    only that site reads the key); or, with ``question``, for the counts of that question's phrases of
    several tokens (``PhraseCounts``), which a publication of single terms cannot hold."""

    kind: Literal["term_stats_request"] = "term_stats_request"
    key: Annotated[str, Field(min_length=43, max_length=43)]
    request_id: _RequestId
    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)] | None = None

    @classmethod
    def for_key(cls, key: bytes, request_id: str) -> Self:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a federation term key has {KEY_BYTES} bytes, got {len(key)}")
        return cls(key=encode_b64(key), request_id=request_id)

    def key_bytes(self) -> bytes:
        return decode_b64(self.key, what="term key", size=KEY_BYTES)


class PhraseCounts(SealedMessage):
    """A site's counts of one question's phrases of several tokens (FTS5 phrase -> chunks holding it), at
    ``version`` of its keyword index."""

    kind: Literal["phrase_counts"] = "phrase_counts"
    request_id: _RequestId
    site_id: Annotated[str, Field(pattern=NODE_ID_PATTERN)]
    version: Annotated[str, Field(min_length=1, max_length=200)]
    counts: dict[Annotated[str, Field(max_length=MAX_QUESTION_CHARS)], Annotated[int, Field(ge=0)]]


class TermStatsPublication(SealedMessage):
    """One site's counts at one version of its keyword index. ``hashes`` (sorted, 8 bytes each) and
    ``counts`` (4 bytes each) are base64 of little-endian arrays; ``epsilon``/``floor`` say how they were
    released and ``epsilon_per_chunk``/``delta_per_chunk``/``epsilon_total`` what that cost (noise only)."""

    kind: Literal["term_stats"] = "term_stats"
    request_id: _RequestId
    site_id: Annotated[str, Field(pattern=NODE_ID_PATTERN)]
    version: Annotated[str, Field(min_length=1, max_length=200)]
    key_id: Annotated[str, Field(min_length=16, max_length=16)]
    chunks: int = Field(ge=0)
    column_tokens: tuple[int, ...]
    hashes: str
    counts: str
    floor: int = Field(ge=1)
    epsilon: float | None = None
    epsilon_per_chunk: float | None = None
    delta_per_chunk: float | None = None
    epsilon_total: float | None = None

    @model_validator(mode="after")
    def _arrays_match(self) -> Self:
        hashes, counts = self.arrays()
        if len(hashes) != len(counts):
            raise ValueError(f"{len(hashes)} hashes but {len(counts)} counts")
        if any(n < 0 for n in self.column_tokens):
            raise ValueError("column token totals must not be negative")
        return self

    @property
    def tokens(self) -> int:
        return sum(self.column_tokens)

    def arrays(self) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
        """``(hashes, counts)``, aligned."""
        hashes = decode_array(self.hashes, what="term hashes", dtype=_HASH.str) if self.hashes else _NO_HASHES
        counts = decode_array(self.counts, what="term counts", dtype=_COUNT.str) if self.counts else _NO_COUNTS
        return hashes.astype(np.uint64), counts.astype(np.int64)


def noised(counts: TermCounts, epsilon: float, rng: np.random.Generator | None = None) -> TermCounts:
    """``counts`` with every term's count noised (``add_noise``) and kept within ``0..chunks``; chunk and
    token totals stay exact (the sketch publishes the chunk count already)."""
    terms = list(counts.frequencies)
    values = np.fromiter((counts.frequencies[t] for t in terms), np.int64, count=len(terms))
    values = np.clip(add_noise(values, epsilon, rng), 0, counts.chunks)
    return replace(counts, frequencies=dict(zip(terms, values.tolist(), strict=True)))


def build_publication(
    site_id: str, version: str, counts: TermCounts, key: bytes, policy: PublicationPolicy, *, request_id: str
) -> TermStatsPublication:
    """The publication of ``counts`` (already ``noised`` when the policy adds noise): the floor applied,
    the terms hashed with ``key``."""
    kept = [(term, count) for term, count in counts.frequencies.items() if count >= policy.floor]
    hashes = term_hashes(key, [term for term, _ in kept])
    values = np.fromiter((count for _, count in kept), np.int64, count=len(kept))
    order = np.argsort(hashes, kind="stable")
    return TermStatsPublication(
        request_id=request_id,
        site_id=site_id,
        version=version,
        key_id=key_id(key),
        chunks=counts.chunks,
        column_tokens=tuple(counts.column_tokens),
        hashes=encode_array(hashes[order], _HASH.str),
        counts=encode_array(values[order], _COUNT.str),
        floor=policy.floor,
        epsilon=policy.epsilon,
    )
