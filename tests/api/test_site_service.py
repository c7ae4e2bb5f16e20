"""A real site service: sealed queries, sketches, rejected envelopes (each with its own error), admin API."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from rag_fed.crypto import EnvelopeOpener, KeyPair, SealedEnvelope, seal
from rag_fed.crypto.envelope import MAX_ENVELOPE_BYTES
from rag_fed.protocol import SiteQuery, SiteReply
from rag_fed.router import SiteSketch
from tests.api.conftest import Federation

pytestmark = pytest.mark.integration

QUESTION = "How do I replace the mechanical seal of the slurry pump?"


def _query(fed: Federation, version: str | None = None, **fields: object) -> SiteQuery:
    health = httpx.get(f"{fed.sites['north'].url}/health").json()
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0
    return SiteQuery(
        question=QUESTION,
        embedding=vector,
        k=3,
        embedder_version=version or health["embedder_version"],
        want_answer=False,
        **fields,  # type: ignore[arg-type]
    )


def _seal(fed: Federation, payload: bytes, *, to: str = "north", sender: KeyPair | None = None, **kw: object) -> bytes:
    return seal(
        payload,
        sender=sender or fed.gateway_keys,
        sender_id="gateway",
        recipient_id=to,
        recipient_key=fed.site_keys[to].public_key,
        **kw,  # type: ignore[arg-type]
    ).to_bytes()


def _post(fed: Federation, body: bytes, site: str = "north") -> httpx.Response:
    return httpx.post(f"{fed.sites[site].url}/v1/site/query", content=body, timeout=60)


def _open_reply(fed: Federation, response: httpx.Response, site: str = "north") -> SiteReply:
    assert response.status_code == 200, response.text
    opener = EnvelopeOpener(fed.gateway_keys, "gateway", {site: fed.site_keys[site].public_key})
    return SiteReply.from_bytes(opener.open_bytes(response.content))


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["type"]


def test_a_sealed_query_gets_a_sealed_reply_with_passages(federation: Federation) -> None:
    query = _query(federation, mode="keyword")
    response = _post(federation, _seal(federation, query.to_bytes()))
    assert b"mechanical" not in response.content, "the reply must travel sealed"
    reply = _open_reply(federation, response)
    assert reply.status == "answered" and reply.request_id == query.request_id
    assert reply.answer is None, "want_answer=False must not run the local model"
    assert reply.passages and all(p.citation.site_id == "north" for p in reply.passages)
    assert "seal" in reply.passages[0].text.lower()
    assert reply.egress == "passages" and "search" in reply.timings_ms


def test_rejected_envelopes_get_distinct_errors(federation: Federation) -> None:
    valid = _seal(federation, _query(federation).to_bytes())
    envelope = SealedEnvelope.from_bytes(_seal(federation, _query(federation).to_bytes()))
    flipped = bytearray(envelope.ciphertext)
    flipped[-1] ^= 1
    tampered = envelope.model_copy(update={"ciphertext": bytes(flipped)}).to_bytes()
    expired = _seal(federation, _query(federation).to_bytes(), now=lambda: time.time() - 3600)
    misaddressed = _seal(federation, _query(federation).to_bytes(), to="south")
    forged = _seal(federation, _query(federation).to_bytes(), sender=KeyPair.generate())

    assert _post(federation, valid).status_code == 200
    outcomes = {
        "replayed": _error(_post(federation, valid)),
        "tampered": _error(_post(federation, tampered)),
        "expired": _error(_post(federation, expired)),
        "misaddressed": _error(_post(federation, misaddressed)),
        "forged": _error(_post(federation, forged)),
        "garbage": _error(_post(federation, b"not an envelope")),
    }
    assert outcomes == {
        "replayed": (409, "ReplayedEnvelopeError"),
        "tampered": (401, "TamperedEnvelopeError"),
        "expired": (401, "ExpiredEnvelopeError"),
        "misaddressed": (421, "WrongRecipientError"),
        "forged": (401, "ForgedEnvelopeError"),
        "garbage": (401, "TamperedEnvelopeError"),
    }
    too_big = _post(federation, b"x" * (MAX_ENVELOPE_BYTES + 1))
    assert _error(too_big) == (413, "DocumentTooLargeError")
    log = federation.sites["north"].tail()
    assert "ReplayedEnvelopeError" in log and "WrongRecipientError" in log, "rejections must be logged"


def test_a_query_for_another_embedder_version_is_refused_in_a_sealed_reply(federation: Federation) -> None:
    query = _query(federation, version="other-model@123")
    reply = _open_reply(federation, _post(federation, _seal(federation, query.to_bytes())))
    assert reply.status == "failed" and reply.passages == []
    assert reply.error is not None and "embedder version mismatch" in reply.error and "other-model@123" in reply.error


def test_the_sketch_is_sealed_and_holds_centroids_only(federation: Federation) -> None:
    response = httpx.get(f"{federation.sites['south'].url}/v1/site/sketch", timeout=60)
    assert response.status_code == 200 and b"pulley" not in response.content
    opener = EnvelopeOpener(federation.gateway_keys, "gateway", {"south": federation.site_keys["south"].public_key})
    sketch = SiteSketch.from_bytes(opener.open_bytes(response.content))
    assert sketch.site_id == "south" and sketch.chunk_count > 0
    assert sketch.centroids is not None and sketch.centroids.shape[1] == 384
    assert sketch.centroids.shape[0] <= max(1, sketch.chunk_count // 5)


def test_site_admin_api_upload_list_delete(federation: Federation) -> None:
    url = f"{federation.sites['east'].url}/v1/admin/documents"
    auth = {"Authorization": f"Bearer {federation.admin_keys['east']}"}
    assert _error(httpx.get(url)) == (401, "AuthError")
    assert _error(httpx.get(url, headers={"Authorization": f"Bearer {federation.admin_keys['north']}"})) == (
        401,
        "AuthError",
    ), "another site's admin key must not work here"
    note = b"# Dryer D-2\n\n## Filter\nClean the dryer filter weekly with dry air below 3 bar.\n"
    created = httpx.post(url, headers=auth, files={"file": ("dryer.md", note, "text/markdown")}, timeout=120)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "added" and created.json()["chunks"] >= 1
    listed = httpx.get(url, headers=auth).json()
    assert "dryer.md" in {doc["doc_id"] for doc in listed}
    deleted = httpx.delete(f"{url}/dryer.md", headers=auth, timeout=60)
    assert deleted.status_code == 200 and deleted.json()["chunks_removed"] >= 1
    assert "dryer.md" not in {doc["doc_id"] for doc in httpx.get(url, headers=auth).json()}
    assert _error(httpx.delete(f"{url}/dryer.md", headers=auth)) == (404, "UnknownDocumentError")
    huge = httpx.post(url, headers=auth, files={"file": ("big.txt", b"x" * (51 * 1024 * 1024), "text/plain")})
    assert _error(huge) == (413, "DocumentTooLargeError")
    bad = httpx.post(url, headers=auth, files={"file": ("tool.exe", b"MZ\x00\x01", "application/octet-stream")})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "InputError"
