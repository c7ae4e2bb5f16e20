"""The support check (rag_fed/answers/support.py): values, units and codes must be in the evidence, and
most of a sentence's terms and term pairs."""

from __future__ import annotations

import pytest

from rag_fed.answers.support import check_sentence

pytestmark = pytest.mark.unit

TRIP = ["The motor protection relay will trip at 100 C winding temperature."]


@pytest.mark.parametrize(
    ("sentence", "unsupported"),
    [
        ("It trips at 105 C winding temperature.", ["105 c"]),  # another value
        ("The relay trips at 100 F winding temperature.", ["100 f"]),  # the value in another unit
        ("The relay trips at 100 C winding temperature after 5 min.", ["5 min"]),  # a value added
    ],
)
def test_a_value_or_unit_the_evidence_does_not_give_is_unsupported(sentence: str, unsupported: list[str]) -> None:
    verdict = check_sentence(sentence, TRIP)
    assert not verdict.supported
    assert verdict.unsupported == unsupported
    assert verdict.overlap >= 0.75, "the words alone would have passed: the value decides"


@pytest.mark.parametrize(
    "sentence",
    [
        "The relay trips at 100 C winding temperature.",
        "At 100 C winding temperature the motor protection relay trips.",
        "The protection relay trips at 100 \u00b0C winding temperature.",
    ],
)
def test_a_paraphrase_with_the_right_values_is_supported(sentence: str) -> None:
    verdict = check_sentence(sentence, TRIP)
    assert verdict.supported, verdict
    assert verdict.unsupported == [] and verdict.evidence == [0]


def test_low_overlap_is_unsupported_even_without_values() -> None:
    verdict = check_sentence("Replace the impeller and check the coupling alignment.", TRIP)
    assert not verdict.supported and verdict.unsupported == []
    assert verdict.overlap < 0.75 and verdict.evidence == []


def test_evidence_words_recombined_into_a_new_claim_fail_the_pair_test() -> None:
    verdict = check_sentence("The winding relay protection trips the motor temperature.", TRIP)
    assert verdict.overlap == 1.0, "every word is in the evidence..."
    assert not verdict.supported, "...but not their order"
    relaxed = check_sentence("The winding relay protection trips the motor temperature.", TRIP, min_bigram_overlap=0.0)
    assert relaxed.supported


def test_a_sentence_with_under_two_content_terms_says_nothing_checkable() -> None:
    assert not check_sentence("Yes, it does.", TRIP).supported
    assert not check_sentence("Relay.", TRIP).supported


def test_a_fragment_is_not_a_claim() -> None:
    assert check_sentence("The motor protection relay will trip at 100 C winding temperature.", TRIP).supported
    assert not check_sentence("The motor protection relay will trip at the", TRIP).supported
    assert not check_sentence("The motor protection relay will trip with.", TRIP).supported


def test_a_sentence_that_only_repeats_an_items_heading_is_not_kept() -> None:
    evidence = ["Add the app button to your home screen. Touch and hold the screen, then tap Settings."]
    heading = "Add the app button"
    assert check_sentence("Add the app button to your home screen.", evidence).supported, "a copy passes alone"
    assert not check_sentence("Add the app button.", evidence, headings=[heading]).supported
    more = "Touch and hold the screen, then tap Settings to add the app button."
    assert check_sentence(more, evidence, headings=[heading]).supported, "saying more than the heading passes"


def test_min_overlap_is_the_share_of_terms_required() -> None:
    sentence = "The relay trips at 100 C winding temperature on pump P2 startup."
    assert not check_sentence(sentence, TRIP).supported
    lenient = check_sentence(sentence, TRIP, min_overlap=0.5, min_bigram_overlap=0.3)
    assert lenient.unsupported == ["p2"] and not lenient.supported, "an unknown code is never supported"


def test_codes_must_be_in_the_evidence() -> None:
    evidence = ["Replace seal kit MS-4471 when the shaft leaks."]
    assert check_sentence("Replace seal kit MS-4471 when the shaft leaks.", evidence).supported
    assert check_sentence("Replace seal kit MS4471 when the shaft leaks.", evidence).supported
    wrong = check_sentence("Replace seal kit MS-4472 when the shaft leaks.", evidence)
    assert not wrong.supported and wrong.unsupported


def test_a_sentence_is_checked_against_what_it_cites() -> None:
    evidence = ["Torque the gland bolts to 35 Nm.", "Replace seal kit MS-4471 when the shaft leaks."]
    sentence = "Torque the gland bolts to 35 Nm."
    assert check_sentence(sentence, evidence, [0]).supported
    cited_wrong = check_sentence(sentence, evidence, [1])
    assert not cited_wrong.supported and cited_wrong.unsupported == ["35 nm"]
    assert check_sentence(sentence, evidence).evidence == [0], "uncited: all items are the pool"
    assert check_sentence(sentence, evidence, [7]).supported, "a number outside the items cites nothing"


def test_no_evidence_supports_nothing() -> None:
    assert not check_sentence("Torque the gland bolts to 35 Nm.", []).supported


def test_a_code_with_another_letter_is_unsupported() -> None:
    verdict = check_sentence(
        "Fault E-217 means the pump motor overheats.", ["Fault F-217 means the pump motor overheats."]
    )
    assert not verdict.supported


def test_numbers_compare_one_way_whatever_their_separators() -> None:
    gap = "Set the seal face gap to 2,5 mm before start."
    assert check_sentence(gap, [gap]).supported, "a copy of the evidence is supported"
    assert check_sentence("Set the seal face gap to 2.5 mm before start.", [gap]).supported
    assert not check_sentence("Set the seal face gap to 25 mm before start.", [gap]).supported
    torque = "Tighten the bolts to 1,200 Nm in three passes."
    assert check_sentence("Tighten the bolts to 1200 Nm in three passes.", [torque]).supported
    assert not check_sentence("Tighten the bolts to 1.2 Nm in three passes.", [torque]).supported
