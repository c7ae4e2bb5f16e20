"""The LangChain retriever inside an LCEL chain, against the real gateway and three site processes."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda
from pydantic import SecretStr

from rag_fed.errors import AuthError, InputError
from rag_fed.integrations.langchain import GatewayUnavailableError, RagFedRetriever
from tests.api.conftest import Federation
from tests.api.procs import free_port

pytestmark = pytest.mark.integration

SEAL = "[north:north-pump-manual.md#Mechanical seal replacement]"


def _retriever(fed: Federation, role: str = "engineer", **fields: object) -> RagFedRetriever:
    return RagFedRetriever.model_validate(
        {"base_url": f"{fed.gateway.url}/v1", "api_key": SecretStr(fed.api_keys[role]), "timeout_s": 120, **fields}
    )


def _cited_context(docs: list[Document]) -> str:
    return "\n".join(f"{doc.metadata['citation']} {' '.join(doc.page_content.split())}" for doc in docs)


def test_retriever_in_an_lcel_chain_returns_cited_passages(federation: Federation) -> None:
    retriever = _retriever(federation, k=4)
    docs = retriever.invoke("How do I replace the mechanical seal on slurry pump SP-40?")
    assert 1 <= len(docs) <= 4
    top = docs[0]
    assert top.metadata["citation"] == SEAL, [d.metadata["citation"] for d in docs]
    assert top.metadata["site"] == "north" and top.metadata["document"] == "north-pump-manual.md"
    assert top.metadata["anchor"] == "Mechanical seal replacement" and "MS-4471" in top.page_content
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    assert [d.metadata["rank"] for d in docs] == list(range(1, len(docs) + 1))
    # Each label is the one the passage's own fields spell, so an answer citing it can be opened.
    for doc in docs:
        anchor = doc.metadata["anchor"]
        expected = f"[{doc.metadata['site']}:{doc.metadata['document']}" + (f"#{anchor}]" if anchor else "]")
        assert doc.metadata["citation"] == expected
    chain = retriever | RunnableLambda(_cited_context)
    context = chain.invoke("How do I replace the mechanical seal on slurry pump SP-40?")
    assert context.startswith(SEAL + " ")
    # The async path through the same chain, restricted to one site.
    east = _retriever(federation, k=2, sites=["east"]) | RunnableLambda(_cited_context)
    east_context = asyncio.run(east.ainvoke("When does the compressor cut out, and how is the switch adjusted?"))
    lines = east_context.splitlines()
    assert lines and all(line.startswith("[east:") for line in lines)
    assert "[east:east-compressor-manual.md#Pressure switch]" in east_context


def test_gateway_errors_reach_the_chain_as_rag_fed_errors(federation: Federation) -> None:
    chain = _retriever(federation).model_copy(update={"api_key": SecretStr("rfk_000000000000_" + "x" * 43)})
    with pytest.raises(AuthError, match="refused the API key"):
        chain.invoke("seal")
    with pytest.raises(InputError, match="unknown site ids"):
        _retriever(federation, sites=["mars"]).invoke("seal")
    nobody = RagFedRetriever(base_url=f"http://127.0.0.1:{free_port()}", api_key=SecretStr("k"), timeout_s=5)
    with pytest.raises(GatewayUnavailableError, match="cannot reach the gateway"):
        nobody.invoke("seal")
