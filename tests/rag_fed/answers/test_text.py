"""Text analysis of answers (rag_fed/answers/text.py, facts.py): answer units, content terms, facts and codes."""

from __future__ import annotations

import pytest

from rag_fed.answers.facts import Fact, code_forms, fact_values, facts, quantities
from rag_fed.answers.text import Unit, content_terms, normalise, question_terms, split_units, stem

pytestmark = pytest.mark.unit

PROCEDURE = """3. GLAND SEAL WATER
Check the flow, e.g. Pump A runs at 2.5 bar. Then close valve V-12.
To replace the seal:
1. Isolate the pump. Lock it out.
2. Drain the casing.
- Fit the new seal.
| Code | Meaning | Action |
|------|---------|--------|
| F-217 | High temp. Stop. | Cool down |
Approx. 3.5 l of oil is needed. Torque to 35 Nm.
"""


def _texts(text: str) -> list[str]:
    return [unit.text for unit in split_units(text)]


def test_list_items_and_table_rows_stay_whole_and_sentences_split() -> None:
    units = split_units(PROCEDURE)
    assert [unit.text for unit in units] == [
        "3. GLAND SEAL WATER",
        "Check the flow, e.g. Pump A runs at 2.5 bar.",
        "Then close valve V-12.",
        "To replace the seal:",
        "1. Isolate the pump. Lock it out.",  # a step is one unit, whatever its sentences
        "2. Drain the casing.",
        "- Fit the new seal.",
        "Code; Meaning; Action",  # the table rule is dropped, cells are joined
        "F-217; High temp. Stop.; Cool down",
        "Approx. 3.5 l of oil is needed.",
        "Torque to 35 Nm.",
    ]
    steps = [unit.text for unit in units if unit.step]
    assert steps == [
        "3. GLAND SEAL WATER",
        "1. Isolate the pump. Lock it out.",
        "2. Drain the casing.",
        "- Fit the new seal.",
    ]
    assert not any(unit.step for unit in units if unit.text.startswith(("Code", "F-217")))


def test_abbreviations_decimals_and_initials_do_not_end_a_sentence() -> None:
    assert _texts("Use a solvent, e.g. Loctite 7063. Dry it.") == ["Use a solvent, e.g. Loctite 7063.", "Dry it."]
    assert _texts("Set the gap to 0.35 mm. Check it again.") == ["Set the gap to 0.35 mm.", "Check it again."]
    assert _texts("Signed by J. Smith on site. Done.") == ["Signed by J. Smith on site.", "Done."]
    assert _texts("Approx. 12 l are needed.") == ["Approx. 12 l are needed."]
    assert _texts("Stop now! Is it cold? Yes.") == ["Stop now!", "Is it cold?", "Yes."]


def test_only_the_first_sentence_of_a_line_starts_the_line_and_headings_are_recognised() -> None:
    first, second = split_units("Belt tracking is checked daily. It takes a minute.")
    assert first.line_start and not second.line_start
    assert Unit("Belt tracking").heading_like
    assert not Unit("Belt tracking", line_start=False).heading_like
    assert not Unit("Check the belt tracking daily.").heading_like
    assert not Unit("To replace the seal:").heading_like


def test_long_units_are_clipped_at_a_word() -> None:
    (unit,) = split_units("word " * 500)
    assert len(unit.text) <= 402 and unit.text.endswith(" …") and "wor …" not in unit.text


def test_normalise_folds_case_dashes_degrees_spaces_and_number_separators() -> None:
    assert normalise("Fault F\u2013217  at 90\u00b0C") == "fault f-217 at 90 deg c"
    assert normalise("2,000 h or 0,5 mm") == "2000 h or 0.5 mm"
    assert normalise("\uff26-217") == "f-217"  # NFKC: a full-width letter is a letter


def test_content_terms_are_stemmed_without_stop_words() -> None:
    assert content_terms("The bearings were tightened, replacing the batteries") == [
        "bear",
        "tighten",
        "replac",
        "battery",
    ]
    assert stem("bearing") == stem("bearings") and stem("tighten") == stem("tightened")
    assert stem("gas") == "gas" and stem("2019") == "2019"
    assert content_terms("What is it and how do I do it?") == []


def test_facts_are_values_with_their_units_codes_and_part_numbers() -> None:
    found = facts("Torque to 35 Nm at 3.5 bar; trip at 90 \u00b0C or 100 F, 1500 rpm, 12 V; bearing 6205-2RS.")
    assert {
        Fact("35", "nm"),
        Fact("3.5", "bar"),
        Fact("90", "c"),
        Fact("100", "f"),
        Fact("1500", "rpm"),
        Fact("12", "v"),
        Fact("6205-2rs"),
    } <= found
    assert Fact("35") not in found, "a value with a unit is not also a bare value"
    assert str(Fact("35", "nm")) == "35 nm" and str(Fact("f217")) == "f217"


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("35 N\u00b7m", "35", "nm"),
        ("35 N m", "35", "nm"),
        ("90 degC", "90", "c"),
        ("90 deg C", "90", "c"),
        ("12 microns", "12", "um"),
        ("500 hours", "500", "h"),
        ("2 weeks", "2", "week"),
        ("15 %", "15", "%"),
        ("4.5 mm/s", "4.5", "mm/s"),
    ],
)
def test_unit_spellings_meet_in_one_canonical_unit(text: str, value: str, unit: str) -> None:
    assert quantities(text) == {value: {unit}}
    assert Fact(value, unit) in facts(text)


def test_quantities_collect_every_unit_a_value_is_given_in() -> None:
    assert quantities("Trip at 100 C (212 F); alarm 90 C; 100 F on the old scale") == {
        "100": {"c", "f"},
        "212": {"f"},
        "90": {"c"},
    }


def test_fact_values_hold_codes_whole_in_parts_and_joined() -> None:
    values = fact_values("Fault F-217 and ALM 401; bearing 6205-2RS.")
    assert {"f-217", "f217", "217", "alm-401", "alm401", "401", "6205-2rs", "6205", "2rs"} <= values


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        ("fault F-217", {"f217"}),
        ("fault F217", {"f217"}),
        ("alarm ALM 452", {"alm452"}),
        ("pump SP-150", {"sp150"}),
        ("bolt M12", {"m12"}),
        ("bearing 6205-2RS", {"62052rs"}),
    ],
)
def test_code_forms_are_compact(text: str, forms: set[str]) -> None:
    assert code_forms(text, whole_only=True) == forms


def test_f_217_and_f217_are_one_code_and_dashed_parts_count() -> None:
    assert code_forms("F-217", whole_only=True) == code_forms("F217") == {"f217"}
    assert code_forms("F-217") == {"f217", "217"}
    assert code_forms("fault f-217", whole_only=True) == {"f217"}, "a lower-case code is the same code"
    assert {"62052rs", "6205", "2rs"} <= code_forms("6205-2RS")
    assert code_forms("6205-2RS", whole_only=True) == {"62052rs"}


@pytest.mark.parametrize("text", ["in 2019", "after 500 hours", "pressure 7", "3.5 bar", "step 2", "12:30", "one"])
def test_years_and_plain_numbers_are_not_codes(text: str) -> None:
    assert code_forms(text) == set()


@pytest.mark.unit
def test_wrapped_lines_join_into_their_sentence_or_list_item() -> None:
    text = (
        "Cylinder drift test: oil at 50 C, boom\nhorizontal, engines stopped. Measure over 10 minutes.\n"
        "- Stop the compressor so\nthat it unloads.\n- Isolate at Q1.\n2 Safety and isolation\nLimits: 20 mm.\n"
        "Do not restart until the bearing has cooled below\n60 degrees C.\nTighten the bolts to\n210 Nm.\n"
        "Set the gap\n3 Checks"
    )
    assert [unit.text for unit in split_units(text)] == [
        "Cylinder drift test: oil at 50 C, boom horizontal, engines stopped.",
        "Measure over 10 minutes.",
        "- Stop the compressor so that it unloads.",
        "- Isolate at Q1.",
        "2 Safety and isolation",
        "Limits: 20 mm.",
        "Do not restart until the bearing has cooled below 60 degrees C.",  # a value wrapped to its own line
        "Tighten the bolts to 210 Nm.",
        "Set the gap",
        "3 Checks",  # a heading after a line not ending on a function word
    ]


@pytest.mark.unit
def test_inflections_meet_and_question_words_are_not_terms() -> None:
    assert stem("change") == stem("changed") == stem("changes") == stem("changing")
    assert stem("tripped") == stem("trip") and stem("setting") == stem("set") and stem("logged") == stem("log")
    assert stem("fill") == stem("filled") and stem("guarantee") == "guarantee"
    assert question_terms("How often is the oil changed, and what does F-217 mean?") == ["oil", "chang", "f", "217"]
    # the word after "how" asks for a value; "how do I" leaves the action a term
    assert question_terms("How high must the water pressure be?") == [stem(w) for w in ("water", "pressure")]
    assert question_terms("How do I bleed the oil pressure?") == [stem(w) for w in ("bleed", "oil", "pressure")]


@pytest.mark.unit
def test_rows_of_a_fixed_width_table_are_units_of_cells_and_prose_with_wide_spaces_is_not() -> None:
    table = (
        "Symptom              Probable cause           Action\n"
        "Low flow             Worn impeller            Replace IMP-HC\n"
        "                     Air drawn in at suction  Check the joints\n"
        "Line blocks          Solids settled           Flush the line for 5 min before\n"
        "                                              every planned stop\n"
    )
    units = split_units(table)
    assert [u.text for u in units] == [
        "Symptom; Probable cause; Action",
        "Low flow; Worn impeller; Replace IMP-HC",
        "Air drawn in at suction; Check the joints",
        "Line blocks; Solids settled; Flush the line for 5 min before every planned stop",
    ]
    assert [u.continues_row for u in units] == [False, False, True, False]
    assert all(u.table_row for u in units)
    prose = split_units("Drain the oil.  Refill to the mark.  Run for five minutes.")
    assert [u.text for u in prose] == ["Drain the oil.", "Refill to the mark.", "Run for five minutes."]
    assert not any(u.table_row for u in prose)
