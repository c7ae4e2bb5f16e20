"""The official openai client chats with the gateway over real processes, streaming and not."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest
from openai import OpenAI

from tests.api.conftest import Federation

pytestmark = pytest.mark.integration

QUESTION = "How do I replace the mechanical seal on slurry pump SP-40?"


def _client(fed: Federation, role: str = "engineer") -> OpenAI:
    return OpenAI(base_url=f"{fed.gateway.url}/v1", api_key=fed.api_keys[role], timeout=180, max_retries=0)


def _rag_fed(obj: object) -> dict[str, object]:
    extra = getattr(obj, "model_extra", None) or {}
    value = extra.get("rag_fed")
    assert isinstance(value, dict), f"no rag_fed extras in {obj!r}"
    return value


def test_chat_completion_answers_with_citations_and_site_report(federation: Federation) -> None:
    completion = _client(federation).chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": QUESTION}], max_tokens=48
    )
    text = completion.choices[0].message.content or ""
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    assert text.strip()
    extras = _rag_fed(completion)
    sites = {site["site_id"]: site for site in extras["sites"]}  # type: ignore[attr-defined]
    assert set(sites) == {"north", "south", "east"}
    assert all(site["status"] == "answered" and site["bytes"] > 0 for site in sites.values())
    citations = extras["citations"]
    assert isinstance(citations, list) and citations
    # Every citation the text carries is a [site:doc#section] tag that the extras list.
    labels = {
        f"[{c['site_id']}:{c['doc_id']}#{c['section']}]" if c["section"] else f"[{c['site_id']}:{c['doc_id']}]"
        for c in citations
    }
    assert any(label in text for label in labels), text
    assert any(c["site_id"] == "north" for c in citations), "the pump manual is at north"


def test_streaming_chat_sends_chunks_then_extras_then_done(federation: Federation) -> None:
    stream = _client(federation).chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": QUESTION}], max_tokens=48, stream=True
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].choices[0].delta.role == "assistant"
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text.strip()
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert {site["site_id"] for site in _rag_fed(last)["sites"]} == {"north", "south", "east"}  # type: ignore[attr-defined]
    # The wire format itself: data lines, closed by [DONE].
    with httpx.stream(
        "POST",
        f"{federation.gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {federation.api_keys['engineer']}"},
        json={
            "model": "rag-fed",
            "messages": [{"role": "user", "content": "compressor oil change"}],
            "stream": True,
            "max_tokens": 8,
            "rag_fed": {"sites": ["east"]},
        },
        timeout=180,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"


def test_multi_turn_uses_the_last_user_message_and_is_audited(federation: Federation) -> None:
    follow_up = "And what torque for the gland bolts?"
    completion = _client(federation, "evaluator").chat.completions.create(
        model="rag-fed",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": QUESTION},
            {
                "role": "assistant",
                "content": "Replace kit MS-4471 [north:north-pump-manual.md#Mechanical seal replacement].",
            },
            {"role": "user", "content": follow_up},
        ],
        max_tokens=32,
        extra_body={"rag_fed": {"sites": ["north"], "k": 2}},
    )
    assert completion.choices[0].message.content
    assert [site["site_id"] for site in _rag_fed(completion)["sites"]] == ["north"]  # type: ignore[index]
    entry = federation.keystore.audit_log(limit=1)[0]
    assert entry.endpoint == "/v1/chat/completions" and entry.role == "evaluator" and entry.outcome == "ok"
    assert entry.question == "sha256:" + hashlib.sha256(follow_up.encode()).hexdigest()
    assert entry.sites == ["north"]


def test_errors_reach_the_openai_client_as_its_own_exceptions(federation: Federation) -> None:
    with pytest.raises(openai.AuthenticationError):
        OpenAI(
            base_url=f"{federation.gateway.url}/v1", api_key="rfk_000000000000_" + "x" * 43, max_retries=0
        ).models.list()
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        _client(federation).chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="unknown site ids"):
        _client(federation).chat.completions.create(
            model="rag-fed", messages=[{"role": "user", "content": "hi"}], extra_body={"rag_fed": {"sites": ["mars"]}}
        )
    models = _client(federation).models.list()
    assert [model.id for model in models.data] == ["rag-fed"]


def test_fast_path_answers_from_passages_without_site_answers(federation: Federation) -> None:
    stream = _client(federation).chat.completions.create(
        model="rag-fed",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=48,
        stream=True,
        extra_body={"rag_fed": {"site_answers": False}},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    extras = _rag_fed(chunks[-1])
    assert text.strip() and extras["fallback"] is False
    citations = extras["citations"]
    assert isinstance(citations, list) and citations
    # The native API shows what happened: passages came back, no site model wrote an answer.
    response = httpx.post(
        f"{federation.gateway.url}/v1/query",
        headers={"Authorization": f"Bearer {federation.api_keys['engineer']}"},
        json={"question": QUESTION, "site_answers": False},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["site_answers"] == [] and body["passages"]
    passage_labels = {(p["citation"]["site_id"], p["citation"]["doc_id"]) for p in body["passages"]}
    assert body["answer"]["citations"]
    assert {(c["site_id"], c["doc_id"]) for c in body["answer"]["citations"]} <= passage_labels
