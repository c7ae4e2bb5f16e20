"""What a site's hybrid reply carries for the router's exact fusion (docs/term-statistics.md, "In the
merge"): its dense and keyword scores down to the hybrid depth (``HybridDepth``), and its candidates
(``Candidates``: chunk ids and component scores, no text). Both travel as packed little-endian arrays in
base64 and stay arrays on both sides: a reply holds up to a hundred candidates, and one Python object
each cost more than the rest of the reply."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema

from rag_fed.wire.arrays import decode_array, encode_array

__all__ = ["MAX_SCORES", "CandidateField", "Candidates", "HybridDepth", "Scores"]

MAX_SCORES = 100
"""At most this many scores per ranking and candidates per reply (the protocol's ``MAX_K``)."""


def _to_scores(value: object) -> NDArray[np.float64]:
    if isinstance(value, str):
        scores = decode_array(value, what="scores", dtype="<f8")  # read-only, as below
    elif isinstance(value, np.ndarray | list | tuple):
        scores = np.asarray(value, dtype=np.float64)
    else:
        raise ValueError("scores must be a float array or base64 text of little-endian float64")
    if scores.ndim != 1 or scores.shape[0] > MAX_SCORES or not np.isfinite(scores).all():
        raise ValueError(f"scores must be at most {MAX_SCORES} finite values")
    scores.setflags(write=False)
    return scores


Scores = Annotated[
    NDArray[np.float64],
    PlainValidator(_to_scores),
    PlainSerializer(lambda scores: encode_array(scores, "<f8"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64url", "description": "little-endian float64"}),
]


class HybridDepth(BaseModel):
    """A site's best dense and keyword scores, best first, down to the hybrid depth (``HYBRID_DEPTH``)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", arbitrary_types_allowed=True)

    dense: Scores
    keyword: Scores


@dataclass(frozen=True, eq=False)
class Candidates:
    """Chunks a site did not send as passages but that may belong to the central top k, as aligned arrays:
    ``ids`` (the site's chunk ids), ``dense`` and ``keyword`` (their component scores, NaN where the chunk
    is not in that ranking's hybrid depth). Read-only; built by ``of`` (which checks them) from anything
    not made by the caller itself."""

    ids: NDArray[np.int64]
    dense: NDArray[np.float64]
    keyword: NDArray[np.float64]

    @classmethod
    def of(cls, ids: object, dense: object, keyword: object) -> Candidates:
        """Candidates from three aligned sequences; ``ValueError`` unless ids are row ids and scores are
        finite or NaN (absent)."""
        raw_ids = np.asarray(ids)
        if raw_ids.size and raw_ids.dtype.kind not in "iu":
            raise ValueError(f"candidate ids must be integers, got {raw_ids.dtype}")
        ids_, dense_, keyword_ = arrays = (
            _read_only(raw_ids, np.int64),
            _read_only(dense, np.float64),
            _read_only(keyword, np.float64),
        )
        if not (ids_.ndim == dense_.ndim == keyword_.ndim == 1) or not len(ids_) == len(dense_) == len(keyword_):
            raise ValueError("candidates must be aligned one-dimensional arrays of ids and scores")
        if len(ids_) > MAX_SCORES:
            raise ValueError(f"at most {MAX_SCORES} candidates")
        if len(ids_) and (ids_.min() < 0 or np.isinf(dense_).any() or np.isinf(keyword_).any()):
            raise ValueError("candidates must be row ids (>= 0) with finite (or NaN: absent) scores")
        return cls(*arrays)

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[int, float | None, float | None]]:
        """``(chunk id, dense score, keyword score)``, ``None`` where a score is absent."""
        for chunk_id, dense, keyword in zip(self.ids.tolist(), self.dense.tolist(), self.keyword.tolist(), strict=True):
            yield chunk_id, _present(dense), _present(keyword)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidates):
            return NotImplemented
        return (
            np.array_equal(self.ids, other.ids)
            and np.array_equal(self.dense, other.dense, equal_nan=True)
            and np.array_equal(self.keyword, other.keyword, equal_nan=True)
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays: equal by value, not hashable


def _read_only(values: object, dtype: type[np.generic]) -> NDArray[Any]:
    """``values`` as a read-only array of ``dtype``: as it is when it already is one (as read from the
    wire), else a copy (a caller's writable array stays its own)."""
    array = np.asarray(values, dtype)
    if array.flags.writeable:
        array = array.copy()
        array.setflags(write=False)
    return array


def _present(score: float) -> float | None:
    return None if math.isnan(score) else score


def _to_candidates(value: object) -> Candidates:
    if isinstance(value, Candidates):
        return value
    if isinstance(value, dict) and {"ids", "dense", "keyword"} == value.keys():
        ids = decode_array(str(value["ids"]), what="candidate ids", dtype="<i8")
        dense = decode_array(str(value["dense"]), what="candidate scores", dtype="<f8")
        keyword = decode_array(str(value["keyword"]), what="candidate scores", dtype="<f8")
        return Candidates.of(ids, dense, keyword)
    if isinstance(value, list):  # one object each: what sites sent before the arrays
        try:
            rows = [(item["chunk_id"], item.get("dense_score"), item.get("keyword_score")) for item in value]
        except (TypeError, KeyError):
            raise ValueError("candidates listed one by one need chunk_id (and dense_score, keyword_score)") from None
        if any(not isinstance(cid, int) or isinstance(cid, bool) for cid, _, _ in rows):
            raise ValueError("candidate chunk ids must be integers")
        absent = [(cid, math.nan if d is None else d, math.nan if s is None else s) for cid, d, s in rows]
        return Candidates.of([r[0] for r in absent], [r[1] for r in absent], [r[2] for r in absent])
    raise ValueError("candidates must be {ids, dense, keyword} (base64 little-endian int64 / float64)")


def _candidates_to_json(candidates: Candidates) -> dict[str, str]:
    """Three packed arrays, NaN where a score is absent: a third of the bytes of one object per candidate."""
    return {
        "ids": encode_array(candidates.ids, "<i8"),
        "dense": encode_array(candidates.dense, "<f8"),
        "keyword": encode_array(candidates.keyword, "<f8"),
    }


CandidateField = Annotated[
    Candidates,
    PlainValidator(_to_candidates),
    PlainSerializer(_candidates_to_json, when_used="json"),
    WithJsonSchema({"type": "object", "description": "{ids, dense, keyword}: base64url little-endian arrays"}),
]
