"""Answer metrics beyond token F1 (eval/answer_metrics.py): expected strings, citation recall, support,
invented values and refusal counts."""

from __future__ import annotations

import pytest

from eval.answer_metrics import RefusalCounts, citation_recall, contains_all, invented_values, supported_share

pytestmark = pytest.mark.unit

TAG = "[north:pump.md#Seals]"
EVIDENCE = ["The pump trips at 100 C on high bearing temperature. Replace seal kit MS-4471."]


def test_contains_all_reads_the_words_normalised_and_needs_every_string() -> None:
    assert contains_all(f"Fit the seal kit MS\u20134471 {TAG}.", ["ms-4471", "SEAL KIT"]) == 1.0
    assert contains_all(f"Fit the seal kit MS-4471 {TAG}.", ["ms-4471", "35 Nm"]) == 0.0
    assert contains_all(f"See {TAG}", ["pump.md"]) == 0.0, "a citation tag is not answer text"
    assert contains_all("anything", []) == 0.0


def test_citation_recall_is_the_share_of_gold_documents_cited() -> None:
    assert citation_recall(["a", "b"], ["a", "c"]) == 0.5
    assert citation_recall(["a", "c", "a"], {"a": 1, "c": 2}) == 1.0
    assert citation_recall(["a"], []) == 0.0


def test_invented_values_are_those_no_cited_text_holds() -> None:
    answer = f"It trips at 105 C; fit kit MS-4471 {TAG}."
    assert invented_values(answer, EVIDENCE) == ["105 c"]
    assert invented_values(f"It trips at 100 C; fit kit MS-4471 {TAG}.", EVIDENCE) == []
    assert invented_values("Fit kit MS-9999 or kit GX4471.", EVIDENCE) == ["gx4471", "ms-9999"]
    assert invented_values("It trips at 100 C.", []) == ["100 c"], "nothing cited supports nothing"


def test_supported_share_applies_the_support_check_to_each_sentence() -> None:
    answer = "The pump trips at 100 C on high bearing temperature. Order three new impellers from stock."
    assert supported_share(answer, EVIDENCE) == 0.5
    assert supported_share(f"The pump trips at 100 C on high bearing temperature {TAG}.", EVIDENCE) == 1.0
    assert supported_share("The pump trips at 120 C on high bearing temperature.", EVIDENCE) == 0.0
    assert supported_share("", EVIDENCE) == 0.0


def test_refusal_counts_give_precision_recall_and_answered_rate() -> None:
    counts = RefusalCounts()
    for answerable, refused in [(True, False), (True, True), (False, True), (False, False), (False, True)]:
        counts.add(answerable, refused)
    assert (counts.declined_unanswerable, counts.answered_unanswerable) == (2, 1)
    assert (counts.declined_answerable, counts.answered_answerable) == (1, 1)
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.recall == pytest.approx(2 / 3)
    assert counts.answered_rate == pytest.approx(0.5)
    empty = RefusalCounts()
    assert (empty.precision, empty.recall, empty.answered_rate) == (0.0, 0.0, 0.0)
