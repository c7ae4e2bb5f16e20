"""The official openai client chats with the gateway over real processes, streaming and not: answers
are composed from the sites' evidence and cite ``[site:doc#section]`` tags the extras resolve."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import openai
import pytest
from openai import OpenAI

from rag_fed.types import Citation
from tests.api.conftest import Federation, answer_tags, tags_resolve

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
    extras = _rag_fed(completion)
    sites = {site["site_id"]: site for site in extras["sites"]}  # type: ignore[attr-defined]
    assert set(sites) == {"north", "south", "east"}
    assert all(site["status"] == "answered" and site["bytes"] > 0 for site in sites.values())
    tags = tags_resolve(text, extras)
    assert any(tag.startswith("[north:north-pump-manual.md") for tag in tags), "the pump manual is at north"
    # Evidence first: the answer quotes the sites' evidence, and says how it was made.
    assert extras["strategy"] == "grounded" and extras["refused"] is False
    assert extras["question"] == QUESTION, "a first question is retrieved as asked"
    evidence = extras["evidence"]
    assert isinstance(evidence, list) and evidence
    assert all(item["text"] in text for item in evidence), "every evidence item shown is quoted whole"
    assert "MS-4471" in " ".join(item["text"] for item in evidence)
    assert isinstance(extras["support"], list) and isinstance(extras["more"], list)
    assert all(verdict["supported"] for verdict in extras["support"] if verdict["sentence"] in text)


def test_streaming_chat_sends_chunks_then_extras_then_done(federation: Federation) -> None:
    stream = _client(federation).chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": QUESTION}], max_tokens=48, stream=True
    )
    chunks = list(stream)
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].choices[0].delta.role == "assistant"
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    extras = _rag_fed(last)
    assert {site["site_id"] for site in extras["sites"]} == {"north", "south", "east"}  # type: ignore[attr-defined]
    tags_resolve(text, extras)
    assert extras["evidence"] and not extras["refused"]
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


def test_a_follow_up_is_made_standalone_answered_and_audited_as_asked(federation: Federation) -> None:
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
        extra_body={"rag_fed": {"sites": ["north"], "k": 2, "strategy": "extractive"}},
    )
    text = completion.choices[0].message.content or ""
    extras = _rag_fed(completion)
    assert [site["site_id"] for site in extras["sites"]] == ["north"]  # type: ignore[index]
    # "And what torque ...?" leans on the previous question: retrieval sees both.
    assert extras["question"] == f"{QUESTION.rstrip('?')}; and what torque for the gland bolts?"
    assert "35 Nm" in text, "the standalone question finds the torque of the SP-40's gland bolts"
    entry = federation.keystore.audit_log(limit=1)[0]
    assert entry.endpoint == "/v1/chat/completions" and entry.role == "evaluator" and entry.outcome == "ok"
    audit_key = bytes.fromhex((federation.gateway_home / "audit.key").read_text().strip())
    assert entry.question == "hmac-sha256:" + hmac.new(audit_key, follow_up.encode(), hashlib.sha256).hexdigest()
    assert entry.question != "sha256:" + hashlib.sha256(follow_up.encode()).hexdigest(), "unsalted: guessable"
    assert entry.sites == ["north"]
    standalone = "Which grease and how much per shot for the drive-end bearing 6310-C3?"
    second = _client(federation).chat.completions.create(
        model="rag-fed",
        messages=[{"role": "user", "content": QUESTION}, {"role": "user", "content": standalone}],
        extra_body={"rag_fed": {"strategy": "extractive"}},
    )
    assert _rag_fed(second)["question"] == standalone, "a question with its own code is kept as asked"


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
    with pytest.raises(openai.BadRequestError, match="strategy"):
        _client(federation).chat.completions.create(
            model="rag-fed",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"rag_fed": {"strategy": "creative"}},
        )
    models = _client(federation).models.list()
    assert [model.id for model in models.data] == ["rag-fed"]


def _query(federation: Federation, **body: object) -> dict[str, object]:
    response = httpx.post(
        f"{federation.gateway.url}/v1/query",
        headers={"Authorization": f"Bearer {federation.api_keys['engineer']}"},
        json={"question": QUESTION, **body},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def test_sites_reply_with_evidence_and_the_gateway_composes_the_answer(federation: Federation) -> None:
    body = _query(federation, strategy="extractive")
    # By default (site_answers false) no site model writes anything: the sites send evidence at once.
    assert body["site_answers"] == [] and body["passages"]
    evidence = body["evidence"]
    assert isinstance(evidence, list) and {item["citation"]["site_id"] for item in evidence} == {
        "north",
        "south",
        "east",
    }
    answer = body["answer"]
    assert isinstance(answer, dict) and answer["strategy"] == "extractive" and not answer["refused"]
    assert answer["support"] == [] and answer["lead"] == "" and answer["model"] == ""
    shown = answer["evidence"]
    assert shown and all(item in evidence for item in shown), "the answer quotes what the sites sent"
    assert answer["text"] == "\n\n".join(
        f"{item['text']} {Citation.model_validate(item['citation']).label}" for item in shown
    )
    assert answer["citations"][0]["doc_id"] == "north-pump-manual.md"
    assert "MS-4471" in answer["text"]
    retrieval_only = _query(federation, want_answer=False)
    assert retrieval_only["answer"] is None and retrieval_only["evidence"] == [] and retrieval_only["passages"]


def test_site_models_phrase_only_when_asked_and_only_for_their_own_site(federation: Federation) -> None:
    body = _query(federation, site_answers=True, strategy="extractive", sites=["north"], k=2)
    assert [site["site_id"] for site in body["sites"]] == ["north"]  # type: ignore[index]
    assert body["evidence"] and body["answer"]["evidence"]  # type: ignore[index]
    # A site's phrased lead passed its own support check and cites its own documents only.
    for answer in body["site_answers"]:  # type: ignore[union-attr]
        assert answer["site_id"] == "north"
        tags = answer_tags(answer["answer"])
        assert tags and all(tag.startswith("[north:") for tag in tags), answer
