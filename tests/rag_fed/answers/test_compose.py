"""Composing answers from evidence (rag_fed/answers/compose.py) with a scripted model: extractive,
grounded (checked lead), generative, refusal, the lead's time budget and the streamed deltas."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest

from rag_fed.answers.compose import AnswerComposer, AnswerStream, ComposedAnswer, LeadHealth, refusal_text
from rag_fed.config import AnswerSettings, AnswerStrategy
from rag_fed.errors import ModelError
from rag_fed.generators.base import ChatMessage
from tests.rag_fed.answers.fakes import ScriptedGenerator, evidence

pytestmark = pytest.mark.unit

GLAND = evidence(
    "Torque the gland bolts to 35 Nm in a cross pattern.", 0.9, site="north", doc="pump.md", section="Gland"
)
SEAL = evidence(
    "Replace seal kit MS-4471 when the shaft leaks.", 0.85, site="south", doc="seals.md", section="Seals", chunk=2
)
PAINT = evidence("The casing paint is blue.", 0.4, site="east", doc="paint.md", section="Paint", chunk=3)
EVIDENCE = [PAINT, SEAL, GLAND]  # in any order: the composer ranks
# The pump is named by its code, and two sites hold items naming it: each site's is shown (rag_fed.answers.ranking).
QUESTION = "How do I fix the leaking gland on pump P-12?"
SITES = ["north", "south", "east"]
BODY = f"{GLAND.text} {GLAND.citation.label}\n\n{SEAL.text} {SEAL.citation.label}"


def _stream(
    tokens: Sequence[str] = (),
    strategy: AnswerStrategy | None = None,
    *,
    error: Exception | None = None,
    settings: AnswerSettings | None = None,
    items: Sequence = EVIDENCE,  # type: ignore[type-arg]
    question: str = QUESTION,
) -> tuple[list[str], ComposedAnswer, ScriptedGenerator]:
    generator = ScriptedGenerator(tokens, error)
    stream = AnswerComposer(settings or AnswerSettings(), generator).stream(
        question, items, sites=SITES, strategy=strategy
    )
    deltas = list(stream)
    assert stream.result is not None
    assert "".join(deltas) == stream.result.text, "the streamed deltas are the answer"
    return deltas, stream.result, generator


def test_extractive_quotes_the_selected_evidence_and_runs_no_model() -> None:
    deltas, result, generator = _stream(["never read"], "extractive")
    assert generator.calls == []
    assert result.text == BODY and deltas == [BODY]
    assert result.strategy == "extractive" and not result.refused and result.model == ""
    assert result.citations == [GLAND.citation, SEAL.citation]
    assert result.evidence == [GLAND, SEAL]
    assert result.more == [PAINT.citation], "found, under secondary_ratio of the best: offered, not shown"
    assert result.support == [] and result.lead == ""


def test_without_a_model_every_strategy_is_the_evidence() -> None:
    result = AnswerComposer(AnswerSettings(strategy="grounded"), None).compose(QUESTION, EVIDENCE, sites=SITES)
    assert result.text == BODY and result.support == []


def test_grounded_keeps_a_supported_lead_with_its_label_and_drops_an_invented_number() -> None:
    tokens = ["Torque the gland ", "bolts to 35 Nm [1]. ", "Torque the gland bolts to 50 Nm [1]. "]
    deltas, result, generator = _stream(tokens, "grounded")
    lead = f"Torque the gland bolts to 35 Nm. {GLAND.citation.label}"
    assert deltas[0] == lead, "the lead streams before the evidence"
    assert result.lead == lead
    assert result.text == f"{lead}\n\n{BODY}"
    assert "50 Nm" not in result.text
    assert [(v.sentence, v.supported) for v in result.support] == [
        ("Torque the gland bolts to 35 Nm.", True),
        ("Torque the gland bolts to 50 Nm.", False),
    ]
    assert result.support[1].unsupported == ["50 nm"]
    assert result.dropped == ["Torque the gland bolts to 50 Nm."]
    assert result.model == "scripted" and result.error is None and result.strategy == "grounded"
    # The model saw the shown evidence numbered in order, and the lead's token limit.
    prompt = generator.calls[0][-1].content
    assert prompt.index("[1] north") < prompt.index("[2] south") and "paint" not in prompt
    assert prompt.rstrip().endswith(f"Question: {QUESTION}")
    assert generator.max_tokens == [AnswerSettings().lead_max_tokens]


def test_a_lead_sentence_citing_nothing_takes_the_label_of_the_evidence_that_backs_it() -> None:
    _, result, _ = _stream(["Replace seal kit MS-4471 when the shaft leaks."], "grounded")
    assert result.lead == f"Replace seal kit MS-4471 when the shaft leaks. {SEAL.citation.label}"


def test_grounded_falls_back_to_the_evidence_when_the_model_fails() -> None:
    _, result, _ = _stream([], "grounded", error=ModelError("model file missing"))
    assert result.text == BODY and result.lead == "" and not result.refused
    assert result.error == "ModelError: model file missing"
    assert result.citations == [GLAND.citation, SEAL.citation]


def test_a_failure_after_a_lead_sentence_keeps_it() -> None:
    _, result, _ = _stream(["Torque the gland bolts to 35 Nm [1]. "], "grounded", error=OSError("connection reset"))
    assert result.lead.startswith("Torque the gland bolts to 35 Nm.")
    assert result.text.endswith(BODY) and result.error == "OSError: connection reset"


def test_grounded_stops_after_lead_sentences() -> None:
    tokens = [
        "Torque the gland bolts to 35 Nm [1]. ",
        "Torque the gland bolts to 35 Nm [1]. ",  # a repeat is checked, not shown twice
        "Replace seal kit MS-4471 when the shaft leaks [2]. ",
        "Torque the gland bolts in a cross pattern [1]. ",
    ]
    _, result, _ = _stream(tokens, "grounded", settings=AnswerSettings(lead_sentences=2))
    assert result.lead == (
        f"Torque the gland bolts to 35 Nm. {GLAND.citation.label} "
        f"Replace seal kit MS-4471 when the shaft leaks. {SEAL.citation.label}"
    )
    assert len(result.support) == 3, "nothing after the second kept sentence is read"
    _, one, _ = _stream(tokens, "grounded", settings=AnswerSettings(lead_sentences=1))
    assert one.lead == f"Torque the gland bolts to 35 Nm. {GLAND.citation.label}" and len(one.support) == 1


def test_a_model_that_writes_nothing_supported_leaves_the_evidence() -> None:
    _, result, _ = _stream(["The moon is made of cheese [1]."], "grounded")
    assert result.text == BODY and result.lead == "" and result.dropped == ["The moon is made of cheese."]


def test_generative_keeps_every_sentence_and_records_the_verdicts() -> None:
    tokens = ["Torque the gland bolts to 35 Nm [1]. ", "Then tighten them to 60 Nm [1]."]
    deltas, result, generator = _stream(tokens, "generative")
    assert result.text == (
        f"Torque the gland bolts to 35 Nm. {GLAND.citation.label} Then tighten them to 60 Nm. {GLAND.citation.label}"
    )
    assert len(deltas) == 2
    assert [v.supported for v in result.support] == [True, False]
    assert result.support[1].unsupported == ["60 nm"]
    assert result.citations == [GLAND.citation] and result.strategy == "generative"
    assert generator.max_tokens == [AnswerSettings().generative_max_tokens]


def test_a_sentence_citing_an_item_that_does_not_exist_is_checked_against_all_and_cited_by_what_backs_it() -> None:
    # two items are shown; a model citing [7] must neither break the answer nor lend it a citation
    deltas, result, _ = _stream(["Torque the gland bolts to 35 Nm [7]. "], "grounded")
    assert result.error is None and result.lead == f"Torque the gland bolts to 35 Nm. {GLAND.citation.label}"
    assert deltas[0] == result.lead and result.support[0].supported
    _, generative, _ = _stream(["Torque the gland bolts to 35 Nm [7]."], "generative")
    assert generative.error is None and generative.support[0].supported
    assert generative.citations == [GLAND.citation, SEAL.citation], "cites no shown item: the evidence is its source"


def test_generative_text_that_cites_nothing_lists_the_evidence_as_sources() -> None:
    _, result, _ = _stream(["Torque the gland bolts to 35 Nm."], "generative")
    assert result.text == (f"Torque the gland bolts to 35 Nm.\n\nSources: {GLAND.citation.label} {SEAL.citation.label}")
    assert result.citations == [GLAND.citation, SEAL.citation]


def test_generative_falls_back_to_the_evidence_when_the_model_fails() -> None:
    _, result, _ = _stream([], "generative", error=ModelError("out of memory"))
    assert result.text == BODY and result.error == "ModelError: out of memory"


def test_generative_sees_the_conversation_before_the_question() -> None:
    generator = ScriptedGenerator(["Torque the gland bolts to 35 Nm [1]."])
    history = [ChatMessage("user", "earlier question"), ChatMessage("assistant", "earlier answer")]
    AnswerComposer(AnswerSettings(), generator).compose(QUESTION, EVIDENCE, history=history, strategy="generative")
    assert [m.role for m in generator.calls[0]] == ["system", "user", "assistant", "user"]


@pytest.mark.parametrize("strategy", ["extractive", "grounded", "generative"])
def test_refusal_names_the_sites_and_the_nearest_documents_and_runs_no_model(strategy: AnswerStrategy) -> None:
    weak = [
        evidence("The casing paint is blue.", 0.3, site="east", doc="paint.md", section="Paint"),
        evidence("The belt is black.", 0.2, site="south", doc="belt.md", section="Belt", chunk=2),
        evidence("The casing paint is blue!", 0.1, site="east", doc="paint.md", section="Paint", chunk=3),
    ]
    deltas, result, generator = _stream(["never read"], strategy, items=weak)
    assert generator.calls == []
    assert result.refused and result.refusal == "below min_support"
    assert result.evidence == [] and result.citations == []
    assert result.strategy == strategy and deltas == [result.text]
    assert result.text.startswith("The documents of the sites asked (north, south, east) do not cover this question.")
    assert "Nearest documents: Paint — Paint [east:paint.md#Paint]; Belt — Belt [south:belt.md#Belt]." in result.text
    assert [c.doc_id for c in result.more] == ["paint.md", "belt.md"], "the near duplicate is dropped"


def test_refusal_text_without_sites_or_documents() -> None:
    assert refusal_text([], []) == "The documents of the sites asked (asked) do not cover this question."


def test_a_question_code_that_no_evidence_holds_is_refused() -> None:
    items = [evidence("Fault F-218 is overspeed of the drive.", 0.9, missing=["f217"])]
    _, result, _ = _stream(["never read"], "grounded", items=items, question="What does fault F-217 mean?")
    assert result.refused and result.refusal == "codes in no evidence" and "do not cover" in result.text


def test_an_answer_names_the_question_codes_its_evidence_does_not_mention() -> None:
    items = [evidence("F-217: high bearing temperature, stop the drive.", 0.9, missing=["alm452"])]
    for strategy in ("extractive", "grounded", "generative"):
        _, result, _ = _stream([], strategy, items=items, question="What do F-217 and ALM 452 mean?")  # type: ignore[arg-type]
        assert not result.refused and result.not_found == ["alm452"], strategy
        assert "ALM" not in result.text, "the answer text names no value that no passage holds"
    _, found, _ = _stream([], "extractive", items=items, question="What does F-217 mean?")
    assert found.not_found == []


class SlowGenerator(ScriptedGenerator):
    """Waits ``delay_s`` before each token: a model that cannot keep the lead budget."""

    def __init__(self, tokens: Sequence[str], delay_s: float) -> None:
        super().__init__(tokens)
        self.delay_s = delay_s

    def stream(self, messages: Sequence[ChatMessage], max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        for token in super().stream(messages, max_tokens, temperature):
            time.sleep(self.delay_s)
            yield token


def test_a_lead_that_misses_its_budget_is_not_waited_for() -> None:
    generator = SlowGenerator(["Torque the gland bolts to 35 Nm [1]. "], delay_s=1.0)
    settings = AnswerSettings(lead_budget_s=0.05)
    started = time.monotonic()
    result = AnswerComposer(settings, generator).compose(QUESTION, EVIDENCE, strategy="grounded")
    assert time.monotonic() - started < 0.9, "the evidence must not wait for the slow model"
    assert result.text == BODY and result.lead == ""


def _calls_reach(generator: ScriptedGenerator, count: int, timeout_s: float = 5.0) -> bool:
    """Whether the model was asked ``count`` times (it is asked from the composer's worker thread)."""
    deadline = time.monotonic() + timeout_s
    while len(generator.calls) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(generator.calls) == count


def test_a_model_late_again_and_again_is_only_probed() -> None:
    health = LeadHealth(patience=2, probe_every=3)
    generator = SlowGenerator(["Torque the gland bolts to 35 Nm [1]. "], delay_s=1.0)
    composer = AnswerComposer(AnswerSettings(lead_budget_s=0.1), generator, lead_health=health)
    for _ in range(2):
        assert composer.compose(QUESTION, EVIDENCE, strategy="grounded").lead == ""
    assert health.late_in_row == 2 and _calls_reach(generator, 2)
    skipped = composer.compose(QUESTION, EVIDENCE, strategy="grounded")
    assert skipped.text == BODY and skipped.error is not None and "lead budget" in skipped.error
    composer.compose(QUESTION, EVIDENCE, strategy="grounded")
    assert _calls_reach(generator, 2, timeout_s=0.2), "after `patience` late leads the model is not asked"
    composer.compose(QUESTION, EVIDENCE, strategy="grounded")
    assert _calls_reach(generator, 3), "every probe_every-th answer probes the model again"


def test_lead_health_recovers_when_the_model_is_on_time_again() -> None:
    health = LeadHealth(patience=1, probe_every=2)
    health.record(late=True)
    assert not health.should_try() and health.should_try()  # skipped, then probed
    health.record(late=False)
    assert health.late_in_row == 0 and health.should_try() and health.should_try()


def test_an_answer_stream_yields_nothing_until_asked_and_collect_returns_the_result() -> None:
    generator = ScriptedGenerator(["Torque the gland bolts to 35 Nm [1]. "])
    stream = AnswerComposer(AnswerSettings(), generator).stream(QUESTION, EVIDENCE, strategy="grounded")
    assert isinstance(stream, AnswerStream) and stream.result is None and generator.calls == []
    result = stream.collect()
    assert result is stream.result and result.lead


def test_generative_timeout_bounds_the_whole_answer() -> None:
    generator = SlowGenerator(["Torque the gland bolts to 35 Nm [1]. "] * 8, delay_s=0.3)
    settings = AnswerSettings(generative_timeout_s=0.5)
    started = time.monotonic()
    AnswerComposer(settings, generator).compose(QUESTION, EVIDENCE, strategy="generative")
    assert time.monotonic() - started < 1.5, "a 0.5 s timeout must not wait 2.4 s for eight slow sentences"
