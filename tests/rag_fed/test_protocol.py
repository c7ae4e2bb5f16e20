"""The messages inside envelopes: exact float32 embeddings, strict parsing, consistent replies."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from rag_fed.crypto import EnvelopeOpener, KeyPair, seal
from rag_fed.errors import InputError
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.types import Citation, Evidence, Passage

pytestmark = pytest.mark.unit

# Values a decimal JSON list could round wrongly: the smallest subnormal, negative zero, the largest
# float32 and a value with all mantissa bits set.
TRICKY = np.array([1e-45, -0.0, 3.4028235e38, 0.1, -1.0000001, np.float32(1) / 3], dtype=np.float32)


def _query(**changes: object) -> SiteQuery:
    fields: dict[str, object] = {
        "question": "Why does the conveyor belt slip at start-up?",
        "embedding": TRICKY,
        "k": 7,
        "embedder_version": "minilm-l6-v2@fed-3",
        "mode": "dense",
        "want_answer": False,
        "request_id": "req-42",
    }
    fields.update(changes)
    return SiteQuery.model_validate(fields)


def _passage(site_id: str = "north-1", rank: int = 1) -> Passage:
    citation = Citation(site_id=site_id, doc_id="manual-7", title="Conveyor manual", section="4.2", page=31)
    return Passage(citation=citation, chunk_id=17, text="Tension the belt to 40 N.", score=0.83, rank=rank)


def _evidence(site_id: str = "north-1") -> Evidence:
    citation = Citation(site_id=site_id, doc_id="manual-7", title="Conveyor manual", section="4.2")
    return Evidence(
        citation=citation,
        text="Tension the belt to 40 N.",
        score=0.7,
        similarity=0.8,
        coverage=0.5,
        passage_rank=1,
        chunk_id=17,
        missing=["c104"],
    )


def _reply(**changes: object) -> SiteReply:
    fields: dict[str, object] = {
        "request_id": "req-42",
        "site_id": "north-1",
        "status": "answered",
        "answer": "Re-tension the belt [1].",
        "passages": [_passage(rank=1), _passage(rank=2)],
        "embedder_version": "minilm-l6-v2@fed-3",
        "timings_ms": {"search": 3.5, "answer": 812.0},
        "egress": "answer+snippets",
    }
    fields.update(changes)
    return SiteReply.model_validate(fields)


def test_query_round_trip_preserves_the_float32_embedding_bit_for_bit() -> None:
    query = _query()
    wire = query.to_bytes()
    back = SiteQuery.from_bytes(wire)
    assert back.embedding.dtype == np.float32
    assert back.embedding.tobytes() == TRICKY.tobytes()
    assert (back.question, back.k, back.mode, back.want_answer, back.request_id) == (
        query.question,
        7,
        "dense",
        False,
        "req-42",
    )
    assert back == query
    assert hash(back) == hash(query)


def test_the_embedding_travels_as_compact_base64() -> None:
    vector = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    wire = _query(embedding=vector).to_bytes()
    as_text = json.loads(wire)["embedding"]
    assert isinstance(as_text, str)
    assert len(as_text) == 2048  # 384 float32 = 1536 bytes = 2048 base64 characters
    assert len(as_text) < len(json.dumps(vector.tolist(), separators=(",", ":"))) / 3
    assert b'": ' not in wire and b', "' not in wire  # no whitespace between tokens


def test_the_embedding_is_read_only() -> None:
    query = _query()
    with pytest.raises(ValueError, match="read-only"):
        query.embedding[0] = 1.0


@pytest.mark.parametrize(
    ("embedding", "problem"),
    [
        (np.array([0.1, np.nan], dtype=np.float32), "NaN or infinite"),
        (np.array([np.inf], dtype=np.float32), "NaN or infinite"),
        (np.zeros((2, 3), dtype=np.float32), "one vector"),
        (np.zeros(0, dtype=np.float32), "one vector"),
        (np.zeros(3, dtype=np.int64), "float array"),
        ("AAAAAAA", "whole number of float32"),
    ],
)
def test_bad_embeddings_are_refused(embedding: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _query(embedding=embedding)


def test_require_dim_names_both_dimensions() -> None:
    _query().require_dim(len(TRICKY))
    with pytest.raises(InputError, match=r"6 dimensions.*has 384"):
        _query().require_dim(384)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda fields: fields.update(k=0),
        lambda fields: fields.update(k="5"),
        lambda fields: fields.update(mode="semantic"),
        lambda fields: fields.update(question=""),
        lambda fields: fields.update(surprise=True),
        lambda fields: fields.update(kind="site_reply"),
        lambda fields: fields.update(embedding="not base64!"),
        lambda fields: fields.update(fetch=[2**64]),
        lambda fields: fields.update(fetch=[-1]),
        lambda fields: fields.update(deadline_s=0),
        lambda fields: fields.update(deadline_s=1e9),
    ],
    ids=[
        "k-zero",
        "k-as-text",
        "unknown-mode",
        "empty-question",
        "unknown-field",
        "wrong-kind",
        "bad-base64",
        "chunk-id-over-int64",
        "negative-chunk-id",
        "zero-deadline",
        "deadline-beyond-an-hour",
    ],
)
def test_invalid_query_bytes_are_an_input_error(mangle: Callable[[dict[str, object]], None]) -> None:
    fields: dict[str, object] = json.loads(_query().to_bytes())
    mangle(fields)
    with pytest.raises(InputError, match="invalid SiteQuery from peer"):
        SiteQuery.from_bytes(json.dumps(fields).encode())


def test_non_json_bytes_are_an_input_error() -> None:
    with pytest.raises(InputError, match="invalid SiteReply"):
        SiteReply.from_bytes(b"\xff\xfe")


def test_reply_round_trip_keeps_passages_and_timings() -> None:
    reply = _reply()
    back = SiteReply.from_bytes(reply.to_bytes())
    assert back == reply
    # A PDF passage is anchored by its page: the guessed heading of a PDF page is less reliable.
    assert back.passages[1].citation.label == "[north-1:manual-7#p31]"
    assert back.timings_ms == {"search": 3.5, "answer": 812.0}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"error": "model crashed"}, "answered reply carries no error"),
        ({"status": "failed", "answer": None, "passages": []}, "must say why"),
        ({"passages": [_passage(site_id="south-2")]}, "citing other sites"),
        ({"evidence": [_evidence(site_id="south-2")]}, "citing other sites"),
        ({"timings_ms": {"search": -1.0}}, "greater than or equal to 0"),
        ({"site_id": "North 1"}, "pattern"),
    ],
)
def test_inconsistent_replies_are_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _reply(**changes)


def test_evidence_and_the_phrase_flag_travel() -> None:
    reply = _reply(evidence=[_evidence()])
    back = SiteReply.from_bytes(reply.to_bytes())
    assert back.evidence == [_evidence()] and back.evidence[0].missing == ["c104"]
    assert SiteReply.from_bytes(_reply().to_bytes()).evidence == [], "evidence is optional"
    assert SiteQuery.from_bytes(_query(want_answer=True, phrase=True).to_bytes()).phrase is True
    assert _query().phrase is False, "sites phrase only when asked"


def test_the_gateways_deadline_travels_and_is_omitted_when_unset() -> None:
    assert SiteQuery.from_bytes(_query(want_answer=True, deadline_s=7.25).to_bytes()).deadline_s == 7.25
    assert b"deadline_s" not in _query().to_bytes(), "an older site never sees a field it does not know"


@pytest.mark.parametrize(
    "changes",
    [{"score": 1.5}, {"similarity": -1.5}, {"coverage": float("nan")}, {"passage_rank": 0}, {"text": "x" * 4001}],
)
def test_out_of_range_evidence_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Evidence.model_validate({**_evidence().model_dump(), **changes})


def test_a_failed_reply_with_its_reason_is_valid() -> None:
    reply = _reply(status="failed", answer=None, passages=[], error="embedder version not served")
    assert SiteReply.from_bytes(reply.to_bytes()).error == "embedder version not served"


def test_query_and_reply_cross_the_federation_sealed_both_ways() -> None:
    gateway_keys, site_keys = KeyPair.generate(), KeyPair.generate()
    site = EnvelopeOpener(site_keys, "north-1", {"gateway": gateway_keys.public_key})
    gateway = EnvelopeOpener(gateway_keys, "gateway", {"north-1": site_keys.public_key})

    query = _query()
    sealed_query = seal(
        query.to_bytes(),
        sender=gateway_keys,
        sender_id="gateway",
        recipient_id="north-1",
        recipient_key=site_keys.public_key,
    )
    received = SiteQuery.from_bytes(site.open_bytes(sealed_query.to_bytes()))
    assert received == query

    reply = _reply(request_id=received.request_id)
    sealed_reply = seal(
        reply.to_bytes(),
        sender=site_keys,
        sender_id="north-1",
        recipient_id="gateway",
        recipient_key=gateway_keys.public_key,
    )
    assert SiteReply.from_bytes(gateway.open_bytes(sealed_reply.to_bytes())) == reply


def test_a_citation_heading_names_the_section_only_when_there_is_one() -> None:
    assert Citation(site_id="s", doc_id="d", title="Pump manual", section="Seals > Bleeding").heading == (
        "Pump manual — Seals > Bleeding"
    )
    assert Citation(site_id="s", doc_id="d", title="Pump manual").heading == "Pump manual"


def test_text_k_travels_is_omitted_when_unset_and_only_asks_a_dense_search_without_an_answer() -> None:
    assert SiteQuery.from_bytes(_query(text_k=4).to_bytes()).text_k == 4
    assert b"text_k" not in _query().to_bytes(), "an older site never sees a field it does not know"
    for changes in ({"mode": "hybrid"}, {"want_answer": True}, {"fetch": [3]}, {"text_k": -1}, {"text_k": 101}):
        with pytest.raises(ValidationError):
            _query(**{"text_k": 4, **changes})
