"""Evidence-first answers on the shipped sample federation (three plant sites and a gateway as processes),
through the official openai client: answers quote the evidence that holds the expected values, questions
the documents do not cover are refused, extractive answers run no model, streams arrive in pieces and
follow-ups are made standalone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
from openai import OpenAI

from rag_fed.answers.ranking import RefusalReason
from rag_fed.answers.text import normalise
from rag_fed.embedders.base import Embedder
from rag_fed.generators.packaged import packaged_smollm2_path
from rag_fed.samples import SampleQuestion, UnanswerableQuestion, load_questions, load_unanswerable
from rag_fed.types import Citation
from tests.api.conftest import SampleFederation, sample_federation_services, tags_resolve

pytestmark = pytest.mark.integration

# Chosen by running them: q05's expected strings are all in the evidence of the extractive answer, and
# u02 (a boiler: other equipment) is refused.
ANSWERED = "q05"
UNANSWERABLE = "u02"
STREAMED = "How do I replace the gland packing on the SP-150 slurry pump?"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, packaged_embedder: Embedder) -> Iterator[SampleFederation]:
    with sample_federation_services(tmp_path_factory.mktemp("samples"), packaged_embedder) as federation:
        yield federation


def _question(question_id: str) -> SampleQuestion:
    return next(q for q in load_questions() if q.id == question_id)


def _unanswerable(question_id: str) -> UnanswerableQuestion:
    return next(q for q in load_unanswerable() if q.id == question_id)


def _client(fed: SampleFederation) -> OpenAI:
    return OpenAI(base_url=f"{fed.gateway.url}/v1", api_key=fed.engineer_key, timeout=240, max_retries=0)


def _ask(fed: SampleFederation, *messages: str, **options: object) -> tuple[str, dict[str, object]]:
    completion = _client(fed).chat.completions.create(
        model="rag-fed",
        messages=[{"role": "user", "content": message} for message in messages],
        extra_body={"rag_fed": options},
    )
    extras = (completion.model_extra or {})["rag_fed"]
    assert isinstance(extras, dict)
    return completion.choices[0].message.content or "", extras


def _model_loaded(fed: SampleFederation) -> bool:
    """Whether the gateway process has the packaged GGUF model mapped (llama.cpp maps the file it loads)."""
    maps = Path(f"/proc/{fed.gateway.process.pid}/maps").read_text()
    return packaged_smollm2_path().name in maps


def test_an_answerable_sample_question_is_answered_with_evidence_and_extractive_runs_no_model(
    samples: SampleFederation,
) -> None:
    question = _question(ANSWERED)
    text, extras = _ask(samples, question.question, strategy="extractive")
    assert extras["refused"] is False and extras["strategy"] == "extractive"
    assert extras["not_found"] == [], "the evidence shown holds the question's pump code"
    evidence = extras["evidence"]
    assert isinstance(evidence, list) and evidence
    quoted = normalise(" ".join(item["text"] for item in evidence))
    for expected in question.expected:
        assert normalise(expected) in quoted, f"{expected!r} not in the evidence: {quoted}"
    tags = tags_resolve(text, extras)
    gold = {(passage.site, passage.file) for passage in question.gold}
    cited = {(c["site_id"], c["doc_id"]) for c in extras["citations"]}  # type: ignore[union-attr]
    assert gold & cited, f"none of the gold documents {gold} is cited: {tags}"
    # No model wrote anything: the text is the evidence, cited, and no sentence was checked.
    assert extras["support"] == []
    assert text == "\n\n".join(f"{item['text']} {Citation.model_validate(item['citation']).label}" for item in evidence)
    assert not _model_loaded(samples), "an extractive answer must not load the central model"


def test_a_question_about_other_equipment_is_refused_and_names_the_nearest_documents(
    samples: SampleFederation,
) -> None:
    question = _unanswerable(UNANSWERABLE)
    assert "other-equipment" in question.tags
    text, extras = _ask(samples, question.question)  # the gateway's default strategy
    assert extras["refused"] is True
    assert extras["refusal"] in get_args(RefusalReason), "the response says which rule declined"
    assert text.startswith(
        "The documents of the sites asked (plant-east, plant-north, plant-south) do not cover this question."
    )
    assert "Nearest documents:" in text
    assert extras["evidence"] == [] and extras["citations"] == [] and extras["support"] == []
    assert extras["more"], "what was found is still offered"


def test_a_follow_up_is_rewritten_and_answered_from_its_standalone_form(samples: SampleFederation) -> None:
    first = "What gland seal water pressure should the SP-150 slurry pump have?"
    text, extras = _ask(samples, first, "and the flow?", strategy="extractive")
    assert extras["question"] == "What gland seal water pressure should the SP-150 slurry pump have; and the flow?"
    assert extras["refused"] is False and extras["refusal"] is None
    assert "8 to 12 L/min" in text, "the rewritten question keeps the pump the flow belongs to"


def test_a_streamed_answer_arrives_in_pieces_with_resolvable_citations(samples: SampleFederation) -> None:
    stream = _client(samples).chat.completions.create(
        model="rag-fed",
        messages=[{"role": "user", "content": STREAMED}],
        stream=True,
        max_tokens=64,
        extra_body={"rag_fed": {"strategy": "generative"}},
    )
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices[0].delta.content]
    assert len(pieces) > 1, f"the answer came in one piece: {pieces}"
    text = "".join(pieces)
    extras = (chunks[-1].model_extra or {})["rag_fed"]
    assert extras["strategy"] == "generative" and extras["refused"] is False
    tags_resolve(text, extras)
    # Generative keeps what the model wrote, but every sentence was checked and the verdicts travel.
    assert extras["support"] and all(verdict["sentence"] in text for verdict in extras["support"])
    assert _model_loaded(samples), "the generative answer ran the central model"
