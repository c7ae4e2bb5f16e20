"""When no site replied there is no evidence, and the answer must say that, not that the documents
do not cover the question."""

from __future__ import annotations

import pytest

from rag_fed.answers.compose import AnswerComposer

pytestmark = pytest.mark.unit


def test_no_site_replied_is_said_as_such() -> None:
    answer = AnswerComposer().compose("What does F-217 mean?", [], sites=["north", "south"], answered=[])
    assert (
        answer.refused
        and answer.refusal == "no reply"
        and "None of the sites asked (north, south) replied" in answer.text
    )
    assert "do not cover" not in answer.text


def test_no_site_could_be_asked() -> None:
    answer = AnswerComposer().compose("What does F-217 mean?", [], sites=[], answered=[])
    assert answer.refused and answer.text.startswith("No site could be asked")


def test_sites_that_replied_without_evidence_get_the_refusal() -> None:
    answer = AnswerComposer().compose("What does F-217 mean?", [], sites=["north"], answered=["north"])
    assert answer.refused and "do not cover this question" in answer.text
