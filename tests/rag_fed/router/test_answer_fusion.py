"""Central fusion of site answers: numbered sources resolved to tags, streaming, and the fallback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from rag_fed.answer_fusion import AnswerFusion, fusion_messages, number_sources
from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage, StreamingGenerator
from rag_fed.repetition import condense
from rag_fed.types import SiteAnswer
from tests.rag_fed.router.fakes import passage

pytestmark = pytest.mark.unit

NORTH = passage("north", 1, 0.9, 1, "Replace seal kit MS-4471.")
SOUTH = passage("south", 2, 0.8, 1, "Torque gland bolts to 35 Nm.")
ANSWERS = [
    SiteAnswer(site_id="north", answer=f"Replace the seal kit {NORTH.citation.label}.", passages=[NORTH]),
    SiteAnswer(site_id="south", answer=f"Torque the gland bolts {SOUTH.citation.label}.", passages=[SOUTH]),
]


class Scripted(StreamingGenerator):
    """Streams the given pieces, then optionally raises; records the messages it saw."""

    name = "scripted"

    def __init__(self, pieces: Sequence[str], error: Exception | None = None) -> None:
        self.pieces = pieces
        self.error = error
        self.seen: list[ChatMessage] = []

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        self.seen = list(messages)
        yield from self.pieces
        if self.error is not None:
            raise self.error


def test_prompt_numbers_sources_and_rewrites_site_tags_to_numbers() -> None:
    sources = number_sources(ANSWERS)
    assert [c.label for c in sources] == [NORTH.citation.label, SOUTH.citation.label]
    history = [ChatMessage("user", "earlier q"), ChatMessage("assistant", "earlier a")]
    messages = fusion_messages("How to fix the leak?", ANSWERS, sources, history)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    prompt = messages[-1].content
    assert "Replace the seal kit [1]." in prompt and "Torque the gland bolts [2]." in prompt
    assert NORTH.citation.label not in prompt.split("Sources:")[1].split("Site north")[1]
    assert prompt.rstrip().endswith("Question: How to fix the leak?")


def test_numbers_are_resolved_even_when_split_across_streamed_tokens() -> None:
    generator = Scripted(["Replace the seal [", "1] and torque", " the bolts [2", "]. Also [9]."])
    stream = AnswerFusion(generator).stream("leak?", ANSWERS)
    deltas = list(stream)
    text = "".join(deltas)
    assert text == f"Replace the seal {NORTH.citation.label} and torque the bolts {SOUTH.citation.label}. Also ."
    assert not any("[1" in delta or "[2" in delta for delta in deltas)
    assert stream.result is not None and not stream.result.fallback
    assert [c.label for c in stream.result.citations] == [NORTH.citation.label, SOUTH.citation.label]
    assert stream.result.model == "scripted"


def test_an_answer_that_cites_nothing_lists_its_sources() -> None:
    fused = AnswerFusion(Scripted(["Replace the seal."])).fuse("leak?", ANSWERS)
    assert fused.text.startswith("Replace the seal.")
    assert f"Sources: {NORTH.citation.label}, {SOUTH.citation.label}" in fused.text
    assert len(fused.citations) == 2


@pytest.mark.parametrize(
    ("generator", "reason"),
    [
        (Scripted([], ModelError("model file missing")), "ModelError: model file missing"),
        (Scripted(["  "]), None),
        (None, "RuntimeError: no central model is configured"),
    ],
)
def test_fallback_returns_the_sites_answers_with_citations(generator: Scripted | None, reason: str | None) -> None:
    fused = AnswerFusion(generator, max_fallback_answers=1).fuse("leak?", ANSWERS)
    assert fused.fallback
    assert fused.error == reason
    assert "central model could not combine" in fused.text
    assert f"north: Replace the seal kit {NORTH.citation.label}." in fused.text
    assert "south:" not in fused.text, "only the best max_fallback_answers are kept"
    assert [c.label for c in fused.citations] == [NORTH.citation.label]


def test_failure_mid_stream_keeps_the_partial_text_and_appends_the_sites_answers() -> None:
    fused = AnswerFusion(Scripted(["Replace [1]", " the"], OSError("connection reset"))).fuse("leak?", ANSWERS)
    assert fused.fallback and fused.text.startswith(f"Replace {NORTH.citation.label} the")
    assert "stopped early" in fused.text and "south: Torque" in fused.text


def test_no_site_answers_skips_the_model() -> None:
    generator = Scripted(["should not run"])
    fused = AnswerFusion(generator).fuse("leak?", [SiteAnswer(site_id="east", answer=" ")])
    assert "None of the sites" in fused.text and not fused.fallback
    assert generator.seen == []


def test_condense_drops_repeated_lines_sentences_and_source_lists() -> None:
    looping = (
        "1. Check the valve GSW-12A.\n2. Check the valve GSW-12A.\n3. Replace the packing rings.\n"
        "Tighten evenly. Tighten evenly. Done.\n\nSources: [north:doc-1#s1]"
    )
    assert condense(looping) == "1. Check the valve GSW-12A.\n3. Replace the packing rings.\nTighten evenly. Done."


def test_a_looping_central_model_is_cut_at_its_first_repeat() -> None:
    generator = Scripted(
        ["1. Check the pump gland [1].\n", "2. Check the pump", " gland.\n", "3. Check the pump gland.\n"]
    )
    fused = AnswerFusion(generator).fuse("leak?", ANSWERS)
    assert fused.text == f"1. Check the pump gland {NORTH.citation.label}.\n"
    assert not fused.fallback and [c.label for c in fused.citations] == [NORTH.citation.label]


def test_looping_site_answers_are_condensed_before_the_prompt_and_the_fallback() -> None:
    loop = SiteAnswer(site_id="north", answer="Check the valve.\n" * 5 + "Sources: [north:doc-1#s1]", passages=[NORTH])
    generator = Scripted([], ModelError("down"))
    fused = AnswerFusion(generator).fuse("leak?", [loop])
    assert fused.text.count("Check the valve.") == 1
    assert f"(sources: {NORTH.citation.label})" in fused.text


def test_a_repeat_cut_short_by_the_token_limit_is_dropped_too() -> None:
    assert condense("1. Check the valve GSW-12A to ensure it is open.\n11. Check the valve GSW-") == (
        "1. Check the valve GSW-12A to ensure it is open."
    )


# -- the fast path: the central model answers from the fused passages ----------------------------------

EAST = passage("east", 3, 0.7, 2, "Seal kit MS-4471 fits SP-40 pumps.")


def test_passage_prompt_numbers_the_passages_with_their_text_in_fused_order() -> None:
    generator = Scripted(["Use seal kit MS-4471 [1], torque to 35 Nm [2]."])
    fused = AnswerFusion(generator).fuse_passages("How to fix the leak?", [NORTH, SOUTH, EAST])
    prompt = generator.seen[-1].content
    assert prompt.index("[1] north") < prompt.index("[2] south") < prompt.index("[3] east")
    assert "Replace seal kit MS-4471." in prompt and "Torque gland bolts to 35 Nm." in prompt
    assert prompt.rstrip().endswith("Question: How to fix the leak?")
    assert fused.text == f"Use seal kit MS-4471 {NORTH.citation.label}, torque to 35 Nm {SOUTH.citation.label}."
    assert fused.citations == [NORTH.citation, SOUTH.citation] and not fused.fallback


def test_passages_without_text_or_with_a_repeated_citation_are_not_sources() -> None:
    hidden = passage("south", 7, 0.95, 1, " ")  # an 'answer'-egress site sends passages without text
    again = NORTH.model_copy(update={"rank": 3})
    generator = Scripted(["ok [1] [2]"])
    AnswerFusion(generator).fuse_passages("leak?", [hidden, NORTH, again, EAST])
    prompt = generator.seen[-1].content
    assert "[1] north" in prompt and "[2] east" in prompt and "[3]" not in prompt
    assert AnswerFusion(generator).fuse_passages("leak?", [hidden]).text.startswith("None of the sites")


def test_passage_fallback_quotes_the_best_passages_when_the_central_model_fails() -> None:
    fused = AnswerFusion(Scripted([], ModelError("out of memory")), max_fallback_answers=2).fuse_passages(
        "leak?", [NORTH, SOUTH, EAST]
    )
    assert fused.fallback and fused.error is not None and "out of memory" in fused.error
    assert f"{NORTH.citation.label} Replace seal kit MS-4471." in fused.text
    assert SOUTH.citation.label in fused.text and EAST.citation.label not in fused.text
    assert fused.citations == [NORTH.citation, SOUTH.citation]
