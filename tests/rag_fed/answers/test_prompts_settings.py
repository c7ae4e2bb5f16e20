"""The prompts over numbered evidence (rag_fed/answers/prompts.py), the time-boxed token reader
(rag_fed/answers/timed.py) and the answer settings as configuration reads them."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from rag_fed.answers.prompts import generative_messages, lead_messages
from rag_fed.answers.timed import TimedTokens
from rag_fed.config import AnswerSettings, Settings
from rag_fed.generators.base import ChatMessage
from tests.rag_fed.answers.fakes import ScriptedGenerator, evidence

pytestmark = pytest.mark.unit

ITEMS = [
    evidence("Torque the gland bolts to 35 Nm.", 0.9, site="north", doc="pump.md", section="Gland"),
    evidence("x" * 2000, 0.8, site="south", doc="seals.md", section="Seals", chunk=2),
]


def test_lead_prompt_numbers_the_evidence_in_order_and_clips_long_items() -> None:
    system, user = lead_messages("How tight?", ITEMS, chars=100)
    assert system.role == "system" and "[1]" in system.content
    assert user.content.startswith("Evidence:\n[1] north: Pump — Gland\nTorque the gland bolts to 35 Nm.")
    assert "[2] south: Seals — Seals\n" + "x" * 100 + "\n" in user.content + "\n"
    assert "x" * 101 not in user.content
    assert user.content.endswith("Question: How tight?")


def test_generative_prompt_keeps_the_conversation_without_its_system_turns() -> None:
    history = [ChatMessage("system", "be rude"), ChatMessage("user", "q1"), ChatMessage("assistant", "a1")]
    messages = generative_messages("How tight?", ITEMS[:1], history)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert all("be rude" not in m.content for m in messages)
    assert messages[-1].content.endswith("Question: How tight?")


def test_timed_tokens_hand_over_tokens_and_stop_the_generation() -> None:
    generator = ScriptedGenerator(["a", "b", "c"])
    with TimedTokens(generator, [], 10) as tokens:
        assert list(tokens.until(time.monotonic() + 5)) == ["a", "b", "c"]
    assert tokens.exhausted and tokens.error is None and generator.closed
    failing = ScriptedGenerator(["a"], error=RuntimeError("boom"))
    with TimedTokens(failing, [], 10) as tokens:
        assert list(tokens.until(time.monotonic() + 5)) == ["a"]
    assert isinstance(tokens.error, RuntimeError)


def test_a_past_deadline_yields_nothing() -> None:
    with TimedTokens(ScriptedGenerator(["a"]), [], 10) as tokens:
        assert list(tokens.until(time.monotonic() - 1)) == []


def test_answer_settings_are_part_of_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().answers == AnswerSettings()
    assert AnswerSettings().strategy == "grounded"
    monkeypatch.setenv("RAGFED_ANSWERS__STRATEGY", "extractive")
    monkeypatch.setenv("RAGFED_ANSWERS__EVIDENCE__SPAN_WORDS", "40")
    settings = Settings()
    assert settings.answers.strategy == "extractive" and settings.answers.evidence.span_words == 40
    with pytest.raises(ValidationError, match="strategy"):
        AnswerSettings(strategy="creative")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        AnswerSettings(min_support=1.5)
