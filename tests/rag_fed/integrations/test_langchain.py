"""The LangChain retriever's mapping and errors, against a mocked gateway (httpx.MockTransport)."""

from __future__ import annotations

import ast
import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rag_fed.errors import AuthError, ForbiddenError, InputError, NotFoundError, RagFedError, SiteUnavailableError
from rag_fed.integrations.langchain import (
    GatewayError,
    GatewayTimeoutError,
    GatewayUnavailableError,
    RagFedRetriever,
)

pytestmark = pytest.mark.unit

KEY = "rfk_000000000000_" + "k" * 43
SECRET = SecretStr(KEY)


def _passage(site: str, doc: str, rank: int, *, section: str = "", page: int | None = None) -> dict[str, object]:
    return {
        "citation": {"site_id": site, "doc_id": doc, "title": doc.title(), "section": section, "page": page},
        "chunk_id": 10 + rank,
        "text": f"text of {doc} #{rank}",
        "score": 1.0 - rank / 10,
        "rank": rank,
    }


def _reply(sites: Sequence[Mapping[str, object]] | None = None) -> dict[str, object]:
    return {
        "request_id": "req-1",
        "answer": None,
        "passages": [
            _passage("north", "pump.md", 1, section="Pump > Mechanical seal"),
            _passage("south", "gearbox.pdf", 2, page=7),
            _passage("east", "orders.csv/E-1", 3),
        ],
        "site_answers": [],
        "sites": sites
        if sites is not None
        else [{"site_id": s, "status": "answered", "latency_ms": 3.0} for s in ("north", "south", "east")],
        "bytes_total": 1234,
        "elapsed_ms": 12.0,
        "embedder_version": "v1",
    }


Handler = Callable[[httpx.Request], httpx.Response]


def _retriever(handler: Handler, **fields: Any) -> RagFedRetriever:
    transport = httpx.MockTransport(handler)
    return RagFedRetriever(
        base_url="http://gateway.test/v1",
        api_key=SECRET,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        **fields,
    )


def test_passages_become_documents_with_citations_and_the_request_is_retrieval_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_reply())

    retriever = _retriever(handler, k=3, mode="hybrid", sites=["north", "south", "east"])
    docs = retriever.invoke("seal leaking")
    assert [d.metadata["citation"] for d in docs] == [
        "[north:pump.md#Mechanical seal]",
        "[south:gearbox.pdf#p7]",
        "[east:orders.csv/E-1]",
    ]
    first = docs[0]
    assert first.page_content == "text of pump.md #1" and first.id == "north:11"
    assert first.metadata["site"] == "north" and first.metadata["document"] == "pump.md"
    assert first.metadata["anchor"] == "Mechanical seal" and first.metadata["score"] == pytest.approx(0.9)
    assert docs[1].metadata["page"] == 7 and docs[1].metadata["anchor"] == "p7"
    request = seen[0]
    assert request.method == "POST" and str(request.url) == "http://gateway.test/v1/query"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "question": "seal leaking",
        "want_answer": False,
        "k": 3,
        "mode": "hybrid",
        "sites": ["north", "south", "east"],
    }
    # The async path sends the same request and maps the same way.
    async_docs = asyncio.run(retriever.ainvoke("seal leaking"))
    assert [d.metadata for d in async_docs] == [d.metadata for d in docs]
    assert json.loads(seen[1].content) == json.loads(seen[0].content)


def test_base_url_works_with_or_without_v1_and_the_key_never_prints() -> None:
    bare = RagFedRetriever(base_url="http://gw:8000/", api_key=SECRET)
    assert bare.query_url == "http://gw:8000/v1/query"
    assert RagFedRetriever(base_url="http://gw:8000/v1", api_key=SECRET).query_url == "http://gw:8000/v1/query"
    assert KEY not in repr(bare) and KEY not in str(bare.model_dump())


@pytest.mark.parametrize(
    ("status", "kind", "expected", "hint"),
    [
        (401, "AuthError", AuthError, "ragfed keys create"),
        (403, "ForbiddenError", ForbiddenError, "engineer or evaluator"),
        (400, "InputError", InputError, "unknown site ids"),
        (404, "NotFoundError", NotFoundError, "check base_url"),
        (500, "InternalError", GatewayError, "HTTP 500"),
        (503, "SiteUnavailableError", GatewayError, "HTTP 503"),
    ],
)
def test_error_statuses_become_rag_fed_errors_that_say_what_to_do(
    status: int, kind: str, expected: type[RagFedError], hint: str
) -> None:
    body = {"error": {"type": kind, "message": "unknown site ids ['mars']"}}
    retriever = _retriever(lambda request: httpx.Response(status, json=body))
    with pytest.raises(expected, match=hint) as sync_error:
        retriever.invoke("q")
    assert kind in str(sync_error.value), "the gateway's own error type is kept in the message"
    with pytest.raises(expected, match=hint):
        asyncio.run(retriever.ainvoke("q"))


def test_timeouts_refusals_and_non_gateway_answers() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(GatewayTimeoutError, match=r"within 2\.5 s"):
        _retriever(slow, timeout_s=2.5).invoke("q")
    with pytest.raises(GatewayTimeoutError):
        asyncio.run(_retriever(slow).ainvoke("q"))
    with pytest.raises(GatewayUnavailableError, match="cannot reach the gateway") as refusal:
        _retriever(refused).invoke("q")
    assert not isinstance(refusal.value, GatewayTimeoutError)
    with pytest.raises(GatewayError, match="not a rag-fed query response"):
        _retriever(lambda request: httpx.Response(200, json={"hello": "world"})).invoke("q")
    with pytest.raises(GatewayError, match="HTTP 502: bad gateway"):
        _retriever(lambda request: httpx.Response(502, text="bad gateway")).invoke("q")


def test_partial_results_are_returned_and_logged_but_no_site_at_all_raises(caplog: pytest.LogCaptureFixture) -> None:
    partial = [
        {"site_id": "north", "status": "answered"},
        {"site_id": "south", "status": "timed_out", "error": "no reply within the 2.0 s deadline"},
        {"site_id": "east", "status": "skipped", "error": "not selected"},
    ]
    with caplog.at_level(logging.WARNING, logger="rag_fed.integrations.langchain"):
        docs = _retriever(lambda request: httpx.Response(200, json=_reply(partial))).invoke("q")
    assert len(docs) == 3 and "south" in caplog.text
    dead = [
        {"site_id": "north", "status": "failed", "error": "HTTP 500"},
        {"site_id": "south", "status": "timed_out", "error": "no reply within the 2.0 s deadline"},
    ]
    nothing = {**_reply(dead), "passages": []}
    with pytest.raises(SiteUnavailableError, match=r"no site answered.*south: timed_out \(no reply"):
        _retriever(lambda request: httpx.Response(200, json=nothing)).invoke("q")


def test_only_the_integration_module_imports_langchain_core() -> None:
    root = Path(__file__).resolve().parents[3] / "rag_fed"
    importers = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "langchain_core" for name in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"integrations/langchain.py"}
