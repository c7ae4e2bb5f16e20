"""Typed messages carried inside sealed envelopes: the gateway's ``SiteQuery`` and a site's ``SiteReply``;
the coordinator's ``ModelControl`` (roll a new embedder version out, roll back, ask the status) and a
site's ``ModelControlReply``.

Both travel as compact JSON; the query's embedding as base64 of little-endian float32, so it arrives
bit for bit as it was computed and at a third of the size of a JSON list of numbers. Bytes that do not
parse raise ``InputError``, not an ``EnvelopeError``: they came out of an envelope that already passed
authentication, so they are a well-sealed but invalid message from a known peer (a bug or a version
skew), never tampering in transit. Unknown fields are refused rather than ignored, so a peer that
asks for something this node does not understand gets an error instead of a silently wrong answer.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from rag_fed.crypto.ids import NODE_ID_PATTERN
from rag_fed.errors import InputError
from rag_fed.types import Evidence, Passage, SearchMode, SiteStatus
from rag_fed.wire.arrays import decode_array, encode_array
from rag_fed.wire.hybrid import MAX_SCORES, CandidateField, Candidates, HybridDepth
from rag_fed.wire.message import SealedMessage

__all__ = [
    "MAX_EMBEDDING_DIM",
    "MAX_K",
    "MAX_QUERY_TERM_STATS",
    "MAX_QUESTION_CHARS",
    "Candidates",
    "ControlStatus",
    "HybridDepth",
    "ModelAction",
    "ModelControl",
    "ModelControlReply",
    "QueryTermStats",
    "ReembedProgress",
    "SiteQuery",
    "SiteReply",
    "TermStatsUse",
]

MAX_EMBEDDING_DIM = 8192
MAX_K = MAX_SCORES  # passages per reply; a reply's hybrid scores and candidates are held to the same
MAX_QUESTION_CHARS = 8000
MAX_DEADLINE_S = 3600.0


def _to_vector(value: object) -> NDArray[np.float32]:
    if isinstance(value, str):
        vector = decode_array(value, what="embedding", dtype="<f4")
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
        vector = value.astype(np.float32)
    elif isinstance(value, list | tuple):
        try:
            vector = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError("embedding must be a list of numbers") from None
    else:
        raise ValueError("embedding must be a float array or base64 text of little-endian float32")
    if vector.ndim != 1 or not 1 <= vector.shape[0] <= MAX_EMBEDDING_DIM:
        raise ValueError(f"embedding must be one vector of 1..{MAX_EMBEDDING_DIM} values, got {vector.shape}")
    if not np.isfinite(vector).all():
        raise ValueError("embedding contains NaN or infinite values")
    vector.setflags(write=False)  # the message is frozen; so is its vector
    return vector


def _vector_to_text(vector: NDArray[np.float32]) -> str:
    return encode_array(vector, "<f4")


Embedding = Annotated[
    NDArray[np.float32],
    PlainValidator(_to_vector),
    PlainSerializer(_vector_to_text, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64url", "description": "little-endian float32"}),
]
_RequestId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_ShortText = Annotated[str, Field(min_length=1, max_length=200)]
_Millis = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_ChunkId = Annotated[int, Field(ge=0, le=2**63 - 1)]  # a site's SQLite row id


def _new_request_id() -> str:
    return uuid.uuid4().hex


MAX_QUERY_TERM_STATS = 512
TermStatsUse = Literal["global", "stale", "unusable"]
"""``global``: BM25 used the federation's statistics; ``stale``: they counted another version of this site's
index, so the site used its own; ``unusable``: they could not be applied (the in-memory keyword index was
not ready, or a term of the question was not counted), so the site used its own."""


class QueryTermStats(BaseModel):
    """The federation's BM25 statistics for one question (docs/term-statistics.md): ``chunks`` (``N``) and
    ``tokens`` (their total length) over every site's published counts, and the chunks holding each of the
    question's terms (as the FTS5 tokenizer makes them) over all sites. ``site_version`` is the version of
    the receiving site's own counts inside these sums: a site whose index has moved on uses its own."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    site_version: _ShortText
    chunks: int = Field(ge=0)
    tokens: int = Field(ge=0)
    frequencies: dict[Annotated[str, Field(max_length=MAX_QUESTION_CHARS)], Annotated[int, Field(ge=0)]] = Field(
        max_length=MAX_QUERY_TERM_STATS
    )
    phrases: dict[Annotated[str, Field(max_length=MAX_QUESTION_CHARS)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=MAX_QUERY_TERM_STATS
    )
    """The question's phrases of several tokens (as FTS5 phrases, e.g. ``"F-217"``) and the chunks holding
    each over every site that counted it for this question; a phrase missing here is estimated."""


class SiteQuery(SealedMessage):
    """What the gateway asks one site: search (and answer) with this question and embedding.

    Keyword search without an answer uses no embedding, so it may go without one (``embedding`` left
    out: the gateway embeds nothing, and the site then checks no embedder version); every other query
    needs it.
    """

    kind: Literal["site_query"] = "site_query"
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    embedding: Embedding | None = None
    k: int = Field(default=5, ge=1, le=MAX_K)
    embedder_version: _ShortText
    mode: SearchMode = "hybrid"
    want_answer: bool = True
    phrase: bool = False
    """With ``want_answer``: the site's local model also writes a checked lead over its evidence."""
    request_id: _RequestId = Field(default_factory=_new_request_id)
    term_stats: QueryTermStats | None = None
    """Keyword and hybrid modes: the federation's BM25 statistics for this question's terms, to score with
    instead of the site's own (docs/term-statistics.md). Sent only to sites that published theirs."""

    fetch: list[_ChunkId] | None = Field(default=None, min_length=1, max_length=MAX_K)
    """Instead of searching: these chunks' passages (candidates of an earlier reply that made the top k)."""
    text_k: int | None = Field(default=None, ge=0, le=MAX_K)
    """Dense search without an answer: only the best ``text_k`` of the ``k`` passages travel with their text;
    the rest of the top ``k`` go as ``SiteReply.candidates`` (chunk ids and cosines, no text), and the router
    fetches those that make the global top k (``fetch``). Sent when several sites are asked, where most of
    each site's top k cannot be in the global one (docs/architecture.md, "Replies without the text of the
    losers")."""
    deadline_s: float | None = Field(default=None, gt=0, le=MAX_DEADLINE_S, allow_inf_nan=False)
    """How long the gateway waits for the reply, counted from when it sent the query. Model work the site
    cannot start in time is skipped and a lead is stopped at it (the evidence is sent without a phrased
    answer), so a question the gateway gave up on does not hold the site's model."""

    _omitted_when_unset = frozenset({"term_stats", "fetch", "embedding", "deadline_s", "text_k"})

    @model_validator(mode="after")
    def _embedding_when_used(self) -> Self:
        if self.text_k is not None and (self.mode != "dense" or self.want_answer or self.fetch is not None):
            raise ValueError("text_k is for a dense search without an answer (not with mode, want_answer or fetch)")
        if self.embedding is None and (self.mode != "keyword" or self.want_answer or self.fetch is not None):
            raise ValueError(
                f"a {self.mode} query{' that wants an answer' if self.want_answer else ''} needs the question's "
                "embedding; only keyword search without an answer goes without"
            )
        return self

    def require_dim(self, dim: int) -> None:
        """``InputError`` unless the embedding (where there is one) has ``dim`` values (the site's embedder
        dimension)."""
        if self.embedding is not None and self.embedding.shape[0] != dim:
            raise InputError(
                f"query embedding has {self.embedding.shape[0]} dimensions, this site's embedder "
                f"{self.embedder_version!r} has {dim}"
            )

    # pydantic's field-by-field equality would compare numpy arrays elementwise and fail; comparing
    # the wire form is exact (bit for bit) and matches what a peer would see.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteQuery):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


class SiteReply(SealedMessage):
    """A site's answer to one ``SiteQuery``, already filtered by the site's egress policy (``egress``)."""

    kind: Literal["site_reply"] = "site_reply"
    request_id: _RequestId
    site_id: Annotated[str, Field(pattern=NODE_ID_PATTERN)]
    status: SiteStatus
    answer: str | None = None
    passages: list[Passage] = Field(default_factory=list, max_length=MAX_K)
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_K)
    embedder_version: _ShortText
    timings_ms: dict[str, _Millis] = Field(default_factory=dict)
    error: str | None = None
    egress: _ShortText
    term_stats: TermStatsUse | None = None
    """What BM25 was computed with, when the query carried the federation's statistics (``TermStatsUse``)."""
    term_stats_version: _ShortText | None = None
    """The version of the site's keyword index now: a gateway holding another refreshes the site's counts."""
    hybrid_depth: HybridDepth | None = None
    """Hybrid mode with the federation's statistics: the site's dense and keyword scores down to the depth
    a central index scales over, so the router scales the global rankings exactly as it would."""

    candidates: CandidateField | None = None
    """To a dense query with ``text_k``: the site's passages beyond its best ``text_k``, down to ``k``, as
    chunk ids and cosines (``dense``; ``keyword`` NaN) without text. With ``hybrid_depth``: the chunks
    beyond the top k that fewer than k of the site's chunks beat in both rankings (ids and component
    scores, no text), so the router's exact fusion sees every chunk that can be in the central top k. The
    router fetches the text of those that are (``SiteQuery.fetch``)."""

    _omitted_when_unset = frozenset({"term_stats", "term_stats_version", "hybrid_depth", "candidates"})

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status == "answered" and self.error is not None:
            raise ValueError("an answered reply carries no error")
        if self.status != "answered" and not self.error:
            raise ValueError(f"a reply with status {self.status!r} must say why in 'error'")
        # A site speaks only for itself: a passage citing another site would be a forged citation.
        cited = [p.citation for p in self.passages] + [e.citation for e in self.evidence]
        foreign = {citation.site_id for citation in cited} - {self.site_id}
        if foreign:
            raise ValueError(f"site {self.site_id!r} returned passages citing other sites: {sorted(foreign)}")
        return self


ModelAction = Literal["rollout", "rollback", "status"]
ControlStatus = Literal["ok", "refused", "failed"]
MAX_MODEL_PATH_CHARS = 4096


class ReembedProgress(BaseModel):
    """A site's re-embed of its store for another embedder version: what, how far, how it ended.

    ``state`` is ``running`` until the new store serves (``done``), or the job ``failed`` (``error``
    says why; the previous store still serves) or was ``cancelled``. ``chunks_total`` grows when
    documents ingested during the re-embed are caught up.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    job: Literal["rollout", "rollback"]
    state: Literal["running", "done", "failed", "cancelled"]
    source_version: _ShortText
    target_version: _ShortText
    chunks_done: int = Field(ge=0)
    chunks_total: int = Field(ge=0)
    started_at: float = Field(allow_inf_nan=False)
    finished_at: float | None = Field(default=None, allow_inf_nan=False)
    error: str | None = Field(default=None, max_length=2000)


class ModelControl(SealedMessage):
    """The coordinator asks a site to re-embed for ``version`` (whose weights are at ``model_path``, a
    folder the site can read), to go back to its previous store, or for its status."""

    kind: Literal["model_control"] = "model_control"
    action: ModelAction
    version: _ShortText | None = None
    model_path: Annotated[str, Field(min_length=1, max_length=MAX_MODEL_PATH_CHARS)] | None = None
    request_id: _RequestId = Field(default_factory=_new_request_id)

    @model_validator(mode="after")
    def _fields_match_action(self) -> Self:
        wants_model = self.action == "rollout"
        if wants_model and (self.version is None or self.model_path is None):
            raise ValueError("a rollout names the version and the model_path to load it from")
        if not wants_model and (self.version is not None or self.model_path is not None):
            raise ValueError(f"a {self.action} carries no version or model_path")
        return self


class ModelControlReply(SealedMessage):
    """A site's answer to a ``ModelControl``: ``ok``, ``refused`` (by its settings or because the request
    cannot apply, e.g. nothing to roll back to) or ``failed``; always with the version it serves now."""

    kind: Literal["model_control_reply"] = "model_control_reply"
    request_id: _RequestId
    site_id: Annotated[str, Field(pattern=NODE_ID_PATTERN)]
    status: ControlStatus
    serving_version: _ShortText
    previous_version: _ShortText | None = None
    reembed: ReembedProgress | None = None
    error: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status == "ok" and self.error is not None:
            raise ValueError("an ok reply carries no error")
        if self.status != "ok" and not self.error:
            raise ValueError(f"a reply with status {self.status!r} must say why in 'error'")
        return self
