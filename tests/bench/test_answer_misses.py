"""bench/answer_misses.py: each miss lands in the bucket that explains it, in the documented order."""

from __future__ import annotations

import pytest

from bench.answer_misses import Miss, classify
from rag_fed.config import AnswerSettings
from tests.rag_fed.answers.fakes import evidence, passage

pytestmark = pytest.mark.unit

QUESTION = "What torque for the pump casing bolts?"
SETTINGS = AnswerSettings()
SEAL = "Torque the pump casing bolts to 45 N.m in a cross pattern."
CASING = passage(f"Casing. {SEAL} Then check the seal.", chunk=1)
OTHER = passage("Bearing housing bolts take 30 N.m.", chunk=2, doc="bearing.md", rank=2)


def test_an_answer_showing_every_expected_string_contains() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1)]
    assert classify(QUESTION, ["45 N.m"], ranked, [CASING], SETTINGS).bucket == "contains"


def test_a_refusal_names_the_rule_that_declined() -> None:
    ranked = [evidence(SEAL, 0.2, chunk=1)]
    miss = classify(QUESTION, ["45 N.m"], ranked, [CASING], SETTINGS)
    assert miss.bucket == "refused"
    assert miss.detail == f"best answerability 0.200 < min_support {SETTINGS.min_support:.2f}"


def test_a_refusal_by_a_code_rule_is_named_by_the_composer_s_reason() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1, missing=["f217"])]
    miss = classify("What torque after fault F-217?", ["45 N.m"], ranked, [CASING], SETTINGS)
    assert miss == Miss("refused", "codes in no evidence")


def test_a_string_cut_from_the_shown_passage() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1)]
    miss = classify(QUESTION, ["45 N.m", "check the seal"], ranked, [CASING], SETTINGS)
    assert miss.bucket == "cut from a shown passage"


def test_a_string_only_in_a_passage_no_item_came_from() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1)]
    miss = classify(QUESTION, ["30 N.m"], ranked, [CASING, OTHER], SETTINGS)
    assert miss.bucket == "in a passage without an item"


def test_strings_spread_over_passages_and_strings_not_retrieved() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1)]
    assert classify(QUESTION, ["45 N.m", "30 N.m"], ranked, [CASING, OTHER], SETTINGS).bucket == (
        "spread over passages"
    )
    miss = classify(QUESTION, ["45 N.m", "60 N.m"], ranked, [CASING, OTHER], SETTINGS)
    assert miss.bucket == "not retrieved"
    assert "60 N.m" in miss.detail


def test_a_string_in_an_evidence_item_the_selection_left_out() -> None:
    ranked = [evidence(SEAL, 0.8, chunk=1), evidence(OTHER.text, 0.79, chunk=2, doc="bearing.md")]
    miss = classify(QUESTION, ["30 N.m"], ranked, [CASING, OTHER], SETTINGS)
    assert miss.bucket == "in an item not shown"
    assert miss.detail == "rank 1"
