"""Metrics, request ids and audit lines of a real federation (three site services and a gateway).

``/metrics`` is for operators (gateway) and site admins (site), never for engineers; one request id per
question travels sealed to every site and is in the response header, the gateway's audit line and log,
and each site's log.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from rag_fed.crypto import KeyPair, SealedEnvelope, seal
from rag_fed.protocol import SiteQuery
from tests.api.conftest import Federation
from tests.api.metrics_text import Samples, parse_samples

pytestmark = pytest.mark.integration

QUESTION = "How do I replace the mechanical seal of the slurry pump?"


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _gateway_metrics(fed: Federation) -> Samples:
    response = httpx.get(f"{fed.gateway.url}/metrics", headers=_headers(fed.api_keys["operator"]), timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_samples(response.text)


def _site_metrics(fed: Federation, site: str = "north") -> Samples:
    response = httpx.get(f"{fed.sites[site].url}/metrics", headers=_headers(fed.admin_keys[site]), timeout=30)
    assert response.status_code == 200, response.text
    return parse_samples(response.text)


def _ask(fed: Federation, **body: object) -> httpx.Response:
    payload = {"question": QUESTION, "k": 3, **body}
    response = httpx.post(
        f"{fed.gateway.url}/v1/query", json=payload, headers=_headers(fed.api_keys["engineer"]), timeout=180
    )
    assert response.status_code == 200, response.text
    return response


def test_gateway_metrics_are_for_operators_only(federation: Federation) -> None:
    url = f"{federation.gateway.url}/metrics"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers=_headers("rfk_000000000000_" + "x" * 43), timeout=30).status_code == 401
    for role in ("engineer", "evaluator", "site-admin"):
        response = httpx.get(url, headers=_headers(federation.api_keys[role]), timeout=30)
        assert response.status_code == 403, (role, response.text)
        assert response.json()["error"]["type"] == "ForbiddenError"
    samples = _gateway_metrics(federation)
    assert samples.get_value("ragfed_gateway_sites") == 3
    for site in ("north", "south", "east"):
        assert samples.get_value("ragfed_gateway_site_breaker_state", site=site) is not None


def test_site_metrics_need_the_site_admin_key(federation: Federation) -> None:
    url = f"{federation.sites['north'].url}/metrics"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers=_headers(federation.api_keys["engineer"]), timeout=30).status_code == 401
    assert httpx.get(url, headers=_headers(federation.admin_keys["south"]), timeout=30).status_code == 401
    samples = _site_metrics(federation)
    assert (samples.get_value("ragfed_site_index_chunks") or 0) > 0
    assert samples.total("ragfed_site_info", site="north", egress="passages") == 1


def test_a_question_shows_in_the_metrics_of_the_gateway_and_the_sites(federation: Federation) -> None:
    gateway_before, site_before = _gateway_metrics(federation), _site_metrics(federation)
    _ask(federation)
    gateway, site = _gateway_metrics(federation), _site_metrics(federation)

    def grew(now: Samples, before: Samples, name: str, **labels: str) -> float:
        return now.total(name, **labels) - before.total(name, **labels)

    for stage in ("embed", "route", "compose"):
        assert grew(gateway, gateway_before, "ragfed_gateway_stage_seconds_count", stage=stage) == 1, stage
    assert grew(gateway, gateway_before, "ragfed_http_requests_total", route="/v1/query", status="200") == 1
    for name in ("north", "south", "east"):
        assert grew(gateway, gateway_before, "ragfed_gateway_site_replies_total", site=name, outcome="answered") == 1
        assert grew(gateway, gateway_before, "ragfed_gateway_site_bytes_total", site=name, direction="received") > 0
        assert gateway.get_value("ragfed_gateway_site_breaker_state", site=name) == 0
    assert grew(gateway, gateway_before, "ragfed_gateway_answers_total") == 1
    assert grew(site, site_before, "ragfed_site_queries_total", status="answered") == 1
    for stage in ("search", "evidence", "total"):
        assert grew(site, site_before, "ragfed_site_stage_seconds_count", stage=stage) == 1, stage
    assert grew(site, site_before, "ragfed_http_requests_total", route="/v1/site/query", status="200") == 1


def test_rejected_envelopes_are_counted_by_reason(federation: Federation) -> None:
    health = httpx.get(f"{federation.sites['east'].url}/health", timeout=30).json()
    vector = np.zeros(384, dtype=np.float32)
    vector[0] = 1.0

    def sealed(to: str = "east", sender: KeyPair | None = None, now: float | None = None) -> bytes:
        query = SiteQuery(
            question=QUESTION, embedding=vector, k=1, embedder_version=health["embedder_version"], want_answer=False
        )
        return seal(
            query.to_bytes(),
            sender=sender or federation.gateway_keys,
            sender_id="gateway",
            recipient_id=to,
            recipient_key=federation.site_keys[to].public_key,
            now=(lambda: now) if now is not None else time.time,
        ).to_bytes()

    envelope = SealedEnvelope.from_bytes(sealed())
    flipped = bytearray(envelope.ciphertext)
    flipped[-1] ^= 1
    valid = sealed()
    attempts = {
        "replayed": valid,
        "tampered": envelope.model_copy(update={"ciphertext": bytes(flipped)}).to_bytes(),
        "expired": sealed(now=time.time() - 3600),
        "wrong_site": sealed(to="south"),
        "forged": sealed(sender=KeyPair.generate()),
    }
    before = _site_metrics(federation, "east")
    url = f"{federation.sites['east'].url}/v1/site/query"
    assert httpx.post(url, content=valid, timeout=60).status_code == 200
    for reason, body in attempts.items():
        assert httpx.post(url, content=body, timeout=60).status_code >= 400, reason
    after = _site_metrics(federation, "east")
    for reason in attempts:
        grew = after.total("ragfed_site_envelopes_rejected_total", reason=reason) - before.total(
            "ragfed_site_envelopes_rejected_total", reason=reason
        )
        assert grew == 1, reason


def test_one_request_id_per_question_from_the_gateway_to_every_site(federation: Federation) -> None:
    response = _ask(federation, want_answer=False)
    request_id = response.headers["x-request-id"]
    assert request_id and response.json()["request_id"] == request_id
    assert _ask(federation, want_answer=False).headers["x-request-id"] != request_id, "one id per question"

    audit = httpx.get(
        f"{federation.gateway.url}/v1/audit", headers=_headers(federation.api_keys["operator"]), timeout=30
    ).json()
    assert request_id in {entry["request_id"] for entry in audit if entry["endpoint"] == "/v1/query"}
    deadline = time.monotonic() + 10  # the log lines are flushed as written; allow the processes a moment
    while time.monotonic() < deadline:
        services = {**federation.sites, "gateway": federation.gateway}
        logs = {name: service.log.read_text(errors="replace") for name, service in services.items()}
        if all(request_id in text for text in logs.values()):
            break
        time.sleep(0.5)
    missing = [name for name, text in logs.items() if request_id not in text]
    assert not missing, f"request id {request_id} not in the logs of {missing}"


def test_a_streamed_chat_answer_carries_its_request_id(federation: Federation) -> None:
    body = {
        "model": "rag-fed",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
        "rag_fed": {"sites": ["north"], "k": 2, "strategy": "extractive"},
    }
    with httpx.stream(
        "POST",
        f"{federation.gateway.url}/v1/chat/completions",
        json=body,
        headers=_headers(federation.api_keys["engineer"]),
        timeout=180,
    ) as response:
        assert response.status_code == 200
        assert len(response.headers["x-request-id"]) == 32
        assert "[DONE]" in response.read().decode()
    samples = _gateway_metrics(federation)
    assert samples.total("ragfed_gateway_stage_seconds_count", stage="first_token") >= 1


def test_ingests_are_counted_at_the_site(federation: Federation) -> None:
    url = f"{federation.sites['south'].url}/v1/admin/documents"
    auth = _headers(federation.admin_keys["south"])
    before = _site_metrics(federation, "south")
    note = b"# Compressor K-7\n\n## Drain\nOpen the condensate drain of compressor K-7 every shift.\n"
    created = httpx.post(url, headers=auth, files={"file": ("k7.md", note, "text/markdown")}, timeout=120)
    assert created.status_code == 201, created.text
    bad = httpx.post(url, headers=auth, files={"file": ("tool.exe", b"MZ\x00\x01", "application/octet-stream")})
    assert bad.status_code == 400
    during = _site_metrics(federation, "south")
    assert httpx.delete(f"{url}/k7.md", headers=auth, timeout=60).status_code == 200

    def grew(name: str, **labels: str) -> float:
        return during.total(name, **labels) - before.total(name, **labels)

    assert grew("ragfed_site_ingest_files_total", status="added") == 1
    assert grew("ragfed_site_ingest_files_total", status="failed") == 1
    assert grew("ragfed_site_ingest_documents_total") == 1
    assert grew("ragfed_site_ingest_chunks_total") == created.json()["chunks"]
    assert grew("ragfed_site_index_chunks") == created.json()["chunks"]


def test_feedback_is_counted(federation: Federation) -> None:
    before = _gateway_metrics(federation)
    response = httpx.post(
        f"{federation.gateway.url}/v1/feedback",
        json={"conversation_id": "c-1", "target": "answer", "useful": True},
        headers=_headers(federation.api_keys["engineer"]),
        timeout=30,
    )
    assert response.status_code == 202, response.text
    after = _gateway_metrics(federation)
    labels = {"target": "answer", "useful": "true"}
    assert (
        after.total("ragfed_gateway_feedback_total", **labels) - before.total("ragfed_gateway_feedback_total", **labels)
        == 1
    )
