"""The strong-model strategies against a real OpenAI-compatible server: llama.cpp's, on loopback,
serving the packaged model (the only instruct model packaged here; a strong one is configured the
same way). Whatever the model writes, a grounded answer keeps only supported sentences and a
generative one reports a verdict for every sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eval.answer_metrics import invented_values
from rag_fed.answers.compose import AnswerComposer
from rag_fed.config import AnswerSettings
from rag_fed.generators import packaged_smollm2_path
from rag_fed.generators.openai_backend import OpenAICompatibleGenerator
from rag_fed.types import Citation, Evidence
from tests.llama_server import llama_cpp_server

pytestmark = pytest.mark.integration

_EVIDENCE = [
    Evidence(
        citation=Citation(site_id="plant-north", doc_id="manuals/gx400.pdf", title="GX-400 service", page=3),
        text="F-217 HSS bearing overtemperature: the RTD in the high-speed shaft bearing reads over 90 C "
        "(alarm); the gearbox trips at 100 C. Do not restart until the bearing has cooled below 60 C.",
        score=0.8,
        similarity=0.75,
        coverage=0.9,
        passage_rank=1,
        chunk_id=11,
    ),
    Evidence(
        citation=Citation(site_id="plant-east", doc_id="manuals/sc75.pdf", title="SC-75 compressor", page=3),
        text="On the SC-75 controller F-217 is the main motor bearing overtemperature: alarm at 95 C, trip at 105 C.",
        score=0.78,
        similarity=0.72,
        coverage=0.9,
        passage_rank=1,
        chunk_id=4,
    ),
]
_QUESTION = "What does fault F-217 mean and at what temperature does it trip?"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAICompatibleGenerator]:
    log_dir: Path = tmp_path_factory.mktemp("llama-endpoint")
    with llama_cpp_server(packaged_smollm2_path(), log_dir, context_tokens=2048) as base_url:
        yield OpenAICompatibleGenerator(base_url, model_name="smollm2", timeout_s=120.0, context_tokens=2048)


def test_grounded_keeps_only_supported_sentences_then_the_evidence(endpoint: OpenAICompatibleGenerator) -> None:
    # A budget a slow CPU can meet, so the model really writes; the check then decides.
    settings = AnswerSettings(lead_budget_s=60.0)
    answer = AnswerComposer(settings, endpoint).compose(_QUESTION, _EVIDENCE, strategy="grounded")
    assert answer.model == endpoint.name and not answer.refused and answer.error is None
    assert answer.support, "the model wrote nothing: the grounded path was not exercised"
    kept = [verdict for verdict in answer.support if verdict.supported]
    for verdict in kept:
        assert verdict.sentence in answer.lead
    for verdict in answer.support:
        if not verdict.supported:
            assert verdict.sentence not in answer.text
    texts = [item.text for item in _EVIDENCE]
    assert invented_values(answer.text, texts) == []
    assert answer.text.endswith(_EVIDENCE[1].citation.label)  # the evidence closes the answer
    assert {c.label for c in answer.citations} == {item.citation.label for item in _EVIDENCE}


def test_generative_writes_freely_cited_with_a_verdict_per_sentence(endpoint: OpenAICompatibleGenerator) -> None:
    composer = AnswerComposer(AnswerSettings(generative_max_tokens=120), endpoint)
    stream = composer.stream(_QUESTION, _EVIDENCE, strategy="generative")
    deltas = list(stream)
    answer = stream.collect()
    assert "".join(deltas) == answer.text
    assert answer.strategy == "generative" and answer.model == endpoint.name
    assert len(answer.support) >= 1
    labels = {item.citation.label for item in _EVIDENCE}
    assert answer.citations and {c.label for c in answer.citations} <= labels
    assert any(label in answer.text for label in labels)
