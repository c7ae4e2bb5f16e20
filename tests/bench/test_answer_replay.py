"""bench/answer_replay.py: variants parse into evidence settings; the tally scores as bench/answers.py."""

from __future__ import annotations

import pytest

from bench._answer_sets import AnswerCase
from bench.answer_replay import Tally, parse_variant

pytestmark = pytest.mark.unit


def test_a_variant_sets_evidence_fields_and_keeps_the_rest() -> None:
    name, settings = parse_variant("before:list_opening=false,span_words=40")
    assert name == "before" and settings.list_opening is False and settings.span_words == 40
    assert settings.embed_units == 8
    with pytest.raises(ValueError):
        parse_variant("bad:span_words=none")


def test_a_refused_answerable_question_scores_zero_and_is_left_out_of_citation_precision() -> None:
    tally = Tally()
    answerable = AnswerCase("q", True, answer="torque to 35 nm", expected=("35 nm",))
    tally.add(answerable, "Torque to 35 Nm. [north:pump.md#Seals]", [True], refused=False)
    tally.add(answerable, "The documents do not cover this question.", [], refused=True)
    tally.add(AnswerCase("other", False), "The documents do not cover this question.", [], refused=True)
    row = tally.row()
    assert row["token_f1"] == pytest.approx(0.5) and row["answer_contains"] == pytest.approx(0.5)
    assert row["citation_precision"] == 1.0 and row["declined"] == 1.0 and row["answered"] == 0.5
