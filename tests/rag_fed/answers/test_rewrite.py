"""Follow-up questions made standalone (rag_fed/answers/rewrite.py)."""

from __future__ import annotations

import pytest

from rag_fed.answers.rewrite import standalone_question

pytestmark = pytest.mark.unit

FIRST = "How often is the GX-400 gearbox oil changed?"


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("and the bearing?", "How often is the GX-400 gearbox oil changed; and the bearing?"),
        ("What about the filter?", "How often is the GX-400 gearbox oil changed; and the filter?"),
        ("How about the breather", "How often is the GX-400 gearbox oil changed; and the breather?"),
        ("Which grade?", "How often is the GX-400 gearbox oil changed; and which grade?"),  # short
        ("How is it drained?", "How often is the GX-400 gearbox oil changed; and how is it drained?"),  # refers back
        ("and F-217?", "How often is the GX-400 gearbox oil changed; and F-217?"),  # leans back: joined anyway
    ],
)
def test_elliptical_follow_ups_are_joined_to_the_previous_question(follow_up: str, expected: str) -> None:
    assert standalone_question(follow_up, [FIRST]) == expected


@pytest.mark.parametrize(
    "question",
    [
        "Which grease suits the main conveyor head pulley bearings in winter?",  # long, standalone
        "What does fault F-217 mean?",  # short, but with its own code
        "What is the torque for the SP-150 impeller bolts?",
    ],
)
def test_standalone_questions_and_questions_with_their_own_code_are_kept(question: str) -> None:
    assert standalone_question(question, [FIRST]) == question


def test_a_first_question_is_kept_and_whitespace_trimmed() -> None:
    assert standalone_question("  and the bearing?  ", []) == "and the bearing?"


def test_a_chain_of_follow_ups_keeps_the_subject_of_the_first() -> None:
    rewritten = standalone_question("and the seals?", [FIRST, "and the bearing?"])
    assert rewritten == "How often is the GX-400 gearbox oil changed; and the bearing; and the seals?"
    new_topic = "Which grease suits the main conveyor head pulley bearings in winter?"
    assert standalone_question("and in summer?", [FIRST, new_topic]) == (
        "Which grease suits the main conveyor head pulley bearings in winter; and in summer?"
    )
