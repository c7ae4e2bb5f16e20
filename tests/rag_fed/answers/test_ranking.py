"""Evidence of many sites as one ranking (rag_fed/answers/ranking.py): stable ties, duplicates shown
once, refusal, and what an answer shows."""

from __future__ import annotations

import pytest

from rag_fed.answers.ranking import (
    Selection,
    asked_codes,
    evidence_for_answer,
    mentions,
    rank_evidence,
    select_for_answer,
    shown_text,
    unmatched_codes,
)
from rag_fed.config import AnswerSettings
from rag_fed.types import Evidence, SiteAnswer
from tests.rag_fed.answers.fakes import evidence

pytestmark = pytest.mark.unit

SETTINGS = AnswerSettings(min_support=0.5, secondary_ratio=0.9, max_items=3)


def _keys(items: list) -> list[tuple[str, str, int]]:  # type: ignore[type-arg]
    return [(e.citation.site_id, e.citation.doc_id, e.chunk_id) for e in items]


def test_ties_break_by_site_then_document_then_chunk() -> None:
    items = [
        evidence("Grease the bearing weekly.", 0.8, site="south", doc="a.md", chunk=1),
        evidence("Torque the bolts to 35 Nm.", 0.8, site="north", doc="b.md", chunk=2),
        evidence("Drain the casing first.", 0.8, site="north", doc="a.md", chunk=9),
        evidence("Check the belt tracking.", 0.8, site="north", doc="a.md", chunk=3),
        evidence("Replace the filter element.", 0.9, site="west", doc="z.md", chunk=7),
    ]
    expected = [
        ("west", "z.md", 7),
        ("north", "a.md", 3),
        ("north", "a.md", 9),
        ("north", "b.md", 2),
        ("south", "a.md", 1),
    ]
    assert _keys(rank_evidence(items)) == expected
    assert _keys(rank_evidence(list(reversed(items)))) == expected, "the order the sites replied in does not matter"


def test_near_duplicates_of_a_better_item_are_dropped() -> None:
    best = evidence("Replace the seal kit when the shaft leaks.", 0.8, site="north", doc="a.md")
    copy = evidence("Replace the seal kit when the shaft leaks!", 0.7, site="south", doc="b.md")  # another site
    almost = evidence(
        "Replace the seal kit now when the shaft leaks.", 0.75, site="east", doc="c.md"
    )  # a stop word more
    other = evidence("Torque the gland bolts to 35 Nm.", 0.6, site="south", doc="b.md", chunk=2)
    ranked = rank_evidence([copy, other, almost, best])
    assert ranked == [best, other]
    partial = evidence("Replace the seal kit.", 0.7, site="south", doc="d.md")
    assert rank_evidence([best, partial]) == [best, partial], "a shorter span says less: not a duplicate"


def _shown(selection: Selection) -> tuple[list[Evidence], bool]:
    return selection.items, selection.refused


def test_no_evidence_or_a_best_score_under_min_support_is_refused() -> None:
    assert select_for_answer("q", [], SETTINGS) == Selection(refusal="no evidence")
    low = select_for_answer("q", [evidence("Torque the gland bolts.", 0.49)], SETTINGS)
    assert low == Selection(refusal="below min_support") and low.refused and low.items == []
    shown = select_for_answer("q", [evidence("Torque the gland bolts.", 0.5)], SETTINGS)
    assert not shown.refused and shown.refusal is None and len(shown.items) == 1


def test_a_question_whose_codes_no_item_holds_is_refused() -> None:
    strong = evidence("Fault F-218 is overspeed.", 0.95, missing=["f217"])
    assert select_for_answer("What does fault F-217 mean?", [strong], SETTINGS).refusal == "codes in no evidence"
    holds = evidence("F-217: high bearing temperature.", 0.55, doc="faults.md", chunk=2)
    shown, refused = _shown(select_for_answer("What does fault F-217 mean?", rank_evidence([strong, holds]), SETTINGS))
    assert not refused and shown == [strong], "one item with the code is enough; the best is still shown first"
    # Of two codes, one found is enough to answer; the other is named by unmatched_codes.
    both = "Do F-217 and ALM 452 mean the same?"
    partly = evidence("F-217: high bearing temperature.", 0.8, missing=["alm452"])
    assert select_for_answer(both, [partly], SETTINGS) == Selection([partly])
    assert unmatched_codes(both, [partly]) == ["alm452"]


def test_a_question_asking_for_a_kind_of_value_is_answered_only_by_evidence_giving_one() -> None:
    question = "What torque do the SC-75 motor foot bolts get?"
    table = evidence("SC-75 torque table: see the motor foot bolt section for each joint.", 0.8, chunk=1)
    value = evidence("Motor foot bolts M16: 210 Nm, cross pattern.", 0.6, chunk=2)
    shown, refused = _shown(select_for_answer(question, rank_evidence([table, value]), SETTINGS))
    assert not refused and shown == [value], "the item that gives a torque is the answer, though it scores lower"
    assert select_for_answer(question, [table], SETTINGS).refusal == "no value of the kind asked", "words, no torque"
    weak = evidence("Coupling bolts: 95 Nm.", 0.45, chunk=3)
    assert select_for_answer(question, [table, weak], SETTINGS).refusal == "no value of the kind asked", (
        "under min_support"
    )
    other = evidence("GX-400 motor to drive base: M20, 410 N.m.", 0.7, doc="gx400.pdf", chunk=4, missing=["sc75"])
    assert select_for_answer(question, [other], SETTINGS).refused, "a torque of other equipment"
    # a question that asks for no kind keeps the best-scored item
    assert select_for_answer("Which joints are in the SC-75 torque table?", [table, value], SETTINGS).items[0] == table


def test_a_compound_question_shows_the_answer_to_its_other_part_and_the_value_asked_for() -> None:
    question = "What does fault F-217 mean and at what temperature does it trip?"
    meaning = evidence("F-217: gearbox bearing overtemperature, raised by the condition monitor.", 0.8, chunk=1)
    trips = evidence("Gearbox trips with F-217: follow the fault code section.", 0.75, chunk=2)
    value = evidence("F-217 alarm at 90 degrees C, trip at 100 degrees C.", 0.45, chunk=3)
    shown, refused = _shown(select_for_answer(question, rank_evidence([meaning, trips, value]), SETTINGS))
    # the value is shown though it scores under the rest; ``trips`` names the same code at the same site
    assert not refused and shown == [meaning, value]
    settings = AnswerSettings(min_support=0.5, secondary_ratio=0.9, max_items=2)
    assert select_for_answer(question, [meaning, trips, value], settings).items == [meaning, value], "within max_items"
    assert select_for_answer(question, [meaning, trips], SETTINGS).refused, "no item gives a temperature"
    low = evidence("F-217: bearing overtemperature.", 0.45, chunk=4)
    assert select_for_answer(question, [low, value], SETTINGS).refusal == "below min_support", "the other part"


def test_a_further_item_is_shown_when_it_adds_to_the_best_and_scores_near_it() -> None:
    question = "How do I fix the gland leak on pump P-12?"
    best = evidence("P-12 gland: torque the bolts to 35 Nm.", 0.8, site="north", chunk=1)
    same_site = evidence("P-12 gland packing is braided PTFE.", 0.78, site="north", chunk=2)
    other_site = evidence("At south, P-12 is the standby pump: swap over first.", 0.76, site="south")
    without_code = evidence("Gland leaks: check the water.", 0.75, site="east", missing=["p12"])
    too_low = evidence("P-12 gland water is 70 kPa.", 0.70, site="west")  # under 0.9 * 0.8 = 0.72
    ranked = rank_evidence([best, same_site, other_site, without_code, too_low])
    shown, refused = _shown(select_for_answer(question, ranked, SETTINGS))
    # another site's item naming the pump: the same code may mean another machine there; the rest only
    # share the question's words (or score too far under the best) and stay among the other results
    assert not refused and shown == [best, other_site]
    alone = AnswerSettings(min_support=0.5, secondary_ratio=1.0)
    assert select_for_answer(question, ranked, alone).items == [best]
    one = AnswerSettings(min_support=0.5, max_items=1)
    assert select_for_answer(question, ranked, one).items == [best]
    words_only = rank_evidence([evidence("Torque the gland bolts.", 0.8), evidence("Drain the casing.", 0.79, chunk=2)])
    assert [e.score for e in select_for_answer("gland leak", words_only, SETTINGS).items] == [0.8]


def test_a_history_question_is_answered_by_every_matching_record_of_the_log() -> None:
    question = "How many times has the starter motor been changed on CR871?"

    def record(key: str, score: float, log: str = "logs/work-orders.jsonl") -> Evidence:
        return evidence(f"CR871 CHANGE OUT STARTER MOTOR ({key})", score, doc=f"{log}/{key}", section="", title=key)

    first, second, third = record("MN-A-00383", 0.58), record("MN-A-00150", 0.56), record("MN-A-00077", 0.54)
    manual = evidence("Starter motor: check the solenoid first.", 0.57, doc="manuals/engine.md", section="Starting")
    other_log = record("X-1", 0.55, log="logs/other.csv")
    shown = select_for_answer(question, rank_evidence([first, second, third, manual, other_log]), SETTINGS).items
    assert shown == [first, second, third]
    # records under a manual section are further places to look, not more of its answer
    section = evidence("Starter motor: check the solenoid first.", 0.6, doc="manuals/engine.md", section="Starting")
    assert select_for_answer(question, rank_evidence([section, first, second]), SETTINGS).items == [section]


def test_a_site_without_evidence_text_is_quoted_by_its_phrased_answer_or_named_private() -> None:
    hidden = [  # an 'answer'-egress site sends its evidence without text, and a checked answer
        evidence("", 0.9, site="east", doc="pump.md"),
        evidence("", 0.6, site="east", doc="pump.md", chunk=2),
    ]
    shown = evidence("Torque the gland bolts to 35 Nm.", 0.5, site="north")
    silent = evidence("", 0.8, site="west", section="Seals")  # no text and no phrased answer
    answers = [SiteAnswer(site_id="east", answer="Use seal kit MS-4471 [east:pump.md#Seals] on the SP-40 pump.")]
    usable = evidence_for_answer([*hidden, shown, silent], answers)
    assert [(e.citation.site_id, e.score) for e in usable] == [("east", 0.9), ("west", 0.8), ("north", 0.5)]
    private = usable[1]
    assert private.text == "(Site west keeps the text of this passage private: Pump — Seals.)"
    assert private.citation == silent.citation, "a private site's match is not lost"
    stood_in = usable[0]
    assert "MS-4471" in stood_in.text and "[east:" not in stood_in.text, "the tag is the item's citation now"
    assert stood_in.citation == hidden[0].citation
    assert evidence_for_answer([shown], []) == [shown]


def test_a_phrased_answer_is_quoted_without_its_tags_whatever_its_section() -> None:
    hidden = evidence("", 0.9, site="east", doc="pump.md", section="Mechanical seal replacement")
    answer = SiteAnswer(site_id="east", answer=f"Use seal kit MS-4471. {hidden.citation.label}")
    (quoted,) = evidence_for_answer([hidden], [answer])
    assert quoted.text == "Use seal kit MS-4471."


def test_mentions_reads_values_as_the_support_check_does() -> None:
    assert mentions("Fault F-217 raised.", "f217") and mentions("Fault F-217 raised.", "f-217")
    assert mentions("Torque to 35 Nm.", "35") and not mentions("Torque to 35 Nm.", "36")
    assert mentions("Alarm ALM 452.", "alm452")


def test_a_fault_code_no_passage_names_is_refused_even_where_the_equipment_is_found() -> None:
    conveyor = "CV-3 Belt Conveyor Manual"
    found = [
        evidence("C-104: belt misalignment switch tripped.", 0.8, title=conveyor, missing=["c118"], absent=["c118"])
    ]
    question = "CV-3 is showing fault C-118, what is it?"
    assert asked_codes(["c118", "cv3"], found) == ["c118"], "CV-3 is named by the heading: where, not what"
    assert select_for_answer(question, found, SETTINGS) == Selection(refusal="asked codes in no passage")
    # the passage names C-118 though the span shown does not: answered
    near = [evidence("C-104: belt misalignment switch tripped.", 0.8, title=conveyor, missing=["c118"])]
    assert not select_for_answer(question, near, SETTINGS).refused
    # one asked code found is enough (the answer names the other as not found)
    two = [evidence("ALM 452: drive fault.", 0.8, title="FL-24 Filler", missing=["vf07"], absent=["vf07"])]
    assert not select_for_answer("FL-24 stopped with ALM 452 and VF-07", two, SETTINGS).refused


def test_a_record_is_shown_with_its_title_where_its_id_asset_and_date_are() -> None:
    order = evidence("MB119 REPLACE WATER PUMP", 0.6, doc="logs/wo.csv/MN-A-00957", section="")
    order = order.model_copy(
        update={
            "citation": order.citation.model_copy(update={"title": "Work order MN-A-00957 · asset MB119 · 2007-03-02"})
        }
    )
    assert shown_text(order) == "Work order MN-A-00957 · asset MB119 · 2007-03-02: MB119 REPLACE WATER PUMP"
    manual = evidence("Replace the pump when it leaks.", 0.6, doc="pump.md", section="Seals")
    assert shown_text(manual) == "Replace the pump when it leaks.", "a section of a manual is cited, not retitled"
    paged = evidence("Replace the pump.", 0.6, doc="pump.pdf", section="")
    paged = paged.model_copy(update={"citation": paged.citation.model_copy(update={"page": 3})})
    assert shown_text(paged) == "Replace the pump."
