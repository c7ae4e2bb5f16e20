"""What kind of value a question asks for and whether a text gives one (rag_fed/answers/quantity.py)."""

from __future__ import annotations

import pytest

from rag_fed.answers.quantity import QUANTITY_KINDS, asked_kinds, asks_more, gives_kind

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("What torque do the motor foot bolts get?", {"torque"}),
        ("Which torque setting for the cap chuck?", {"torque"}),
        ("Torque value for the gland nuts?", {"torque"}),
        ("How often are the idlers greased?", {"interval"}),
        ("Hydraulic oil change interval on the loaders?", {"interval"}),
        ("How long must I wait after isolating the VFD?", {"duration"}),
        ("What is the gland seal water pressure?", {"pressure"}),
        ("How hot can the pulley bearing run?", {"temperature"}),
        ("What is the maximum bearing temperature?", {"temperature"}),
        ("What deflection should the V-belts have?", {"length"}),
        ("What is the supply voltage of the panel?", {"voltage"}),
        ("What oil goes in the diffs and how often is it changed?", {"interval"}),
    ],
)
def test_a_question_naming_a_quantity_asks_for_that_kind(question: str, kinds: set[str]) -> None:
    assert asked_kinds(question) == kinds


@pytest.mark.parametrize(
    "question",
    [
        "What does fault F-217 mean?",
        "When should the filter be replaced?",  # 'when' is answered in many kinds
        "How much grease goes into the bearing?",
        "What should I do when the temperature rises?",  # an action, not a temperature
        "What happens when the oil pressure drops?",
        "How do I torque the foot bolts?",
        "Why does the pressure relief valve chatter?",
        "How often has the pump failed this year?",  # a count of events, not an interval
        "Describe the torque procedure for the coupling.",
    ],
)
def test_questions_about_actions_or_open_kinds_ask_for_none(question: str) -> None:
    assert asked_kinds(question) == frozenset()


@pytest.mark.parametrize(
    ("question", "compound"),
    [
        ("What does fault code F-217 mean and at what temperature does it trip?", True),
        ("What's the part number of the throatbush and how long does one last?", True),
        ("How often is the gearbox oil changed, and with what oil?", True),
        ("Compressor oil change: what oil, and how often?", True),
        ("What are the load and unload pressures of compressors C-01 and C-02?", False),  # one part
        ("What torque do the SC-75 motor foot bolts get?", False),
        ("How often and how long is the pump flushed?", False),  # every part is typed
        ("What does fault F-217 mean and what do I do?", False),  # asks for no kind at all
    ],
)
def test_a_question_asking_for_a_value_and_something_else_is_compound(question: str, compound: bool) -> None:
    assert asks_more(question) is compound


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Tighten the foot bolts to 210 Nm in a cross pattern.", "torque"),
        ("M20 8.8: 410 N·m dry.", "torque"),
        ("Tighten to 150 lbf ft.", "torque"),
        ("Grease every 150 running hours.", "interval"),
        ("Inspect the rope weekly.", "interval"),
        ("Check the level every shift.", "interval"),
        ("Wait 5 minutes for the DC bus to discharge.", "duration"),
        ("Seal water at 0.5 to 1 bar above discharge pressure.", "pressure"),
        ("Alarm at 80 °C, trip at 90 °C.", "temperature"),
        ("Stop the conveyor above 95 degrees C.", "temperature"),
        ("Belt deflection 16 mm at mid-span.", "length"),
        ("Supply 400 V three-phase.", "voltage"),
    ],
)
def test_a_value_with_its_unit_gives_the_kind(text: str, kind: str) -> None:
    assert gives_kind(text, frozenset({kind}))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Torque the bolts in a cross pattern; see the torque table.", "torque"),  # names torque, gives none
        ("Tighten the foot bolts to 210 Nm.", "interval"),  # a torque is not an interval
        ("Check the pressure gauge reading against the label.", "pressure"),
        ("Bearing temperature high: check the grease.", "temperature"),
        ("Replace part 150-2 of kit 3.", "length"),  # numbers without a unit
        ("Firmware version 12.5 of the drive", "voltage"),
    ],
)
def test_a_text_without_such_a_value_does_not_give_it(text: str, kind: str) -> None:
    assert not gives_kind(text, frozenset({kind}))


def test_no_kind_asked_is_given_by_any_text_and_every_kind_is_known() -> None:
    assert gives_kind("anything at all", frozenset())
    assert {"torque", "interval", "duration", "pressure", "temperature", "length", "voltage"} == QUANTITY_KINDS
    assert gives_kind("Torque to 35 Nm, grease weekly.", frozenset({"interval", "pressure"})), "any of the kinds"
