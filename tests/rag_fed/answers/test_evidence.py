"""Evidence selection at a site (rag_fed/answers/evidence.py): spans cut from the top passages, scored
by sentence cosine and rarity-weighted term coverage, codes of the question fencing fault tables."""

from __future__ import annotations

import numpy as np
import pytest

from rag_fed.answers.evidence import (
    CollectionRarity,
    EvidenceSelector,
    answerability,
    question_codes,
    support_score,
)
from rag_fed.config import EvidenceSettings
from rag_fed.embedders.base import Embedder
from tests.rag_fed.answers.fakes import BagOfWordsEmbedder, passage

PUMP = passage(
    "The pump is centrifugal. Replace the mechanical seal when the shaft leaks oil. Torque the gland bolts "
    "to 35 Nm. The paint of the casing is blue.",
    doc="pump.md",
    section="Seals",
    chunk=11,
    rank=1,
    dense=0.6,
)
PROCEDURE = passage(
    "To replace the seal:\n1. Isolate the pump.\n2. Drain the casing.\n3. Fit seal kit MS-4471.\n"
    "The warranty lasts two years.",
    doc="procedures.md",
    section="Seal replacement",
    chunk=12,
    rank=2,
    dense=0.5,
)
FAULTS = passage(
    "| F-216 | Low oil pressure | Check the oil pump |\n| F-217 | High bearing temperature | Stop and cool the "
    "bearing |\n| F-218 | Overspeed | Reset the governor |",
    doc="faults.md",
    section="Fault codes",
    chunk=13,
    rank=3,
    dense=0.3,
)
PASSAGES = [PUMP, PROCEDURE, FAULTS]


def _select(question: str, settings: EvidenceSettings | None = None) -> list:  # type: ignore[type-arg]
    return EvidenceSelector(settings, BagOfWordsEmbedder()).select(question, PASSAGES)


@pytest.mark.unit
def test_one_span_per_passage_best_first_with_its_citation() -> None:
    evidence = _select("What torque for the gland bolts?")
    assert len(evidence) == 3
    assert [item.score for item in evidence] == sorted((item.score for item in evidence), reverse=True)
    best = evidence[0]
    assert best.text == "Torque the gland bolts to 35 Nm."
    assert (best.citation, best.chunk_id, best.passage_rank) == (PUMP.citation, 11, 1)
    for item in evidence:
        assert 0.0 <= item.score <= 1.0 and 0.0 <= item.coverage <= 1.0
        dense = {p.citation.doc_id: p.dense_score for p in PASSAGES}[item.citation.doc_id]
        assert item.score == pytest.approx(support_score(item.similarity, item.coverage, dense), abs=1e-3)


@pytest.mark.unit
def test_support_score_is_the_mean_of_span_terms_and_passage_and_stays_in_bounds() -> None:
    assert support_score(0.6, 0.3, 0.9) == pytest.approx(0.6)
    assert support_score(-0.4, 0.3, 0.6) == pytest.approx(0.3), "a negative cosine counts as none"
    assert support_score(0.6, 0.3) == pytest.approx(0.5), "without a passage cosine the span's stands in"
    assert support_score(1.0, 1.0, 1.0) == 1.0 and support_score(0.0, 0.0, 0.0) == 0.0


@pytest.mark.unit
def test_answerability_weighs_coverage_twice_beside_the_cosine() -> None:
    item = _select("What torque for the gland bolts?")[0]
    assert answerability(item) == pytest.approx((item.similarity + 2 * item.coverage) / 3)
    assert answerability(item.model_copy(update={"similarity": 0.6, "coverage": 0.3})) == pytest.approx(0.4)
    assert answerability(item.model_copy(update={"similarity": -0.3, "coverage": 0.6})) == pytest.approx(0.4), (
        "a negative cosine counts as none"
    )
    assert answerability(item.model_copy(update={"similarity": 1.0, "coverage": 1.0})) == 1.0


@pytest.mark.unit
def test_a_procedure_stays_together_in_order_with_its_introduction() -> None:
    best = _select("How do I replace the seal?")[0]
    assert best.citation == PROCEDURE.citation
    assert best.text == "To replace the seal: 1. Isolate the pump. 2. Drain the casing. 3. Fit seal kit MS-4471."
    assert "warranty" not in best.text


@pytest.mark.unit
def test_a_fault_code_of_the_question_fences_its_table_row() -> None:
    evidence = _select("What does fault F-217 mean?")
    best = evidence[0]
    assert best.citation == FAULTS.citation
    assert best.text == "F-217; High bearing temperature; Stop and cool the bearing"
    assert best.missing == []
    assert all(item.missing == ["f217"] for item in evidence[1:]), "the other spans do not hold the code"


@pytest.mark.unit
def test_the_word_budget_bounds_how_far_a_span_grows() -> None:
    def best(words: int) -> str:
        return str(_select("How do I replace the seal?", EvidenceSettings(span_words=words))[0].text)

    # a procedure's steps may take twice the budget, so that it is not cut after its first step
    assert best(4) == "To replace the seal: 1. Isolate the pump."
    assert best(6) == "To replace the seal: 1. Isolate the pump. 2. Drain the casing."
    assert best(9) == "To replace the seal: 1. Isolate the pump. 2. Drain the casing. 3. Fit seal kit MS-4471."
    # A seed longer than the budget is still shown whole: the budget only stops growth.
    assert _select("What torque for the gland bolts?", EvidenceSettings(span_words=3))[0].text == (
        "Torque the gland bolts to 35 Nm."
    )


@pytest.mark.unit
def test_only_the_best_units_are_embedded_and_a_given_query_vector_is_reused() -> None:
    embedder = BagOfWordsEmbedder()
    EvidenceSelector(EvidenceSettings(embed_units=3), embedder).select("How do I replace the seal?", PASSAGES)
    (batch,) = embedder.batches
    assert batch[0] == "How do I replace the seal?" and len(batch) == 1 + 3
    embedder = BagOfWordsEmbedder()
    vector = embedder.embed(["How do I replace the seal?"])[0]
    embedder.batches.clear()
    selector = EvidenceSelector(EvidenceSettings(embed_units=3), embedder)
    with_vector = selector.select("How do I replace the seal?", PASSAGES, vector)
    assert embedder.batches and all("How do I replace" not in text for text in embedder.embedded)
    assert with_vector == _select("How do I replace the seal?", EvidenceSettings(embed_units=3))


@pytest.mark.unit
def test_without_an_embedder_units_are_scored_by_terms_and_the_passage_cosine() -> None:
    evidence = EvidenceSelector().select("What torque for the gland bolts?", PASSAGES)
    best = evidence[0]
    # unembedded, the next sentence of the paragraph is as relevant as its passage: it stays with the seed
    assert best.text == "Torque the gland bolts to 35 Nm. The paint of the casing is blue."
    assert best.similarity == pytest.approx(PUMP.dense_score)  # the passage's cosine, no unit was embedded
    assert {item.citation.doc_id: item.similarity for item in evidence}["faults.md"] == pytest.approx(0.3)


@pytest.mark.unit
def test_only_the_top_passages_with_text_are_used() -> None:
    blank = passage("   ", doc="blank.md", chunk=14, rank=1)
    selector = EvidenceSelector(EvidenceSettings(passages=2), BagOfWordsEmbedder())
    evidence = selector.select("How do I replace the seal?", [blank, PUMP, PROCEDURE])
    assert [item.citation.doc_id for item in evidence] == ["pump.md"], "blank is skipped; procedures is third"
    assert selector.select("How do I replace the seal?", []) == []
    assert selector.select("How do I replace the seal?", [blank]) == []


@pytest.mark.unit
def test_selection_is_deterministic() -> None:
    assert _select("How do I replace the seal?") == _select("How do I replace the seal?")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("question", "codes"),
    [
        ("What does F-217 mean?", ["f217"]),
        ("And F217?", ["f217"]),
        ("Alarm ALM 452 on the filler", ["alm452"]),
        ("Which grease for bearing 6205-2RS on pump SP-150?", ["62052rs", "sp150"]),
        ("What changed in 2019 after 500 hours at 90 C?", []),
        ("How do I replace the seal?", []),
    ],
)
def test_question_codes(question: str, codes: list[str]) -> None:
    assert question_codes(question) == codes


@pytest.mark.integration
def test_the_packaged_embedder_picks_the_sentence_that_answers() -> None:
    from rag_fed.config import Settings
    from rag_fed.embedders import load_embedder

    embedder: Embedder = load_embedder(Settings().embedder)
    selector = EvidenceSelector(EvidenceSettings(), embedder)
    question = "How tight should the gland bolts be?"
    vector = embedder.embed([question])[0]
    dense = [
        passage(
            p.text,
            doc=p.citation.doc_id,
            section=p.citation.section,
            chunk=p.chunk_id,
            rank=p.rank,
            dense=float(embedder.embed([p.text])[0] @ vector),
        )
        for p in PASSAGES
    ]
    evidence = selector.select(question, dense, vector)
    best = evidence[0]
    assert best.citation.doc_id == "pump.md"
    assert "35 Nm" in best.text and "paint" not in best.text
    assert all(-1.0 <= item.similarity <= 1.0 for item in evidence)
    assert best.similarity > max(item.similarity for item in evidence[1:])
    fault = selector.select("What does fault F-217 mean?", dense)
    assert fault[0].citation.doc_id == "faults.md" and "High bearing temperature" in fault[0].text
    assert "F-216" not in fault[0].text and "F-218" not in fault[0].text
    assert np.isfinite([item.score for item in fault]).all()


@pytest.mark.unit
def test_a_running_title_never_seeds_and_a_paragraph_keeps_the_values_that_follow() -> None:
    manual = passage(
        "HX-550 Excavator Service Manual\nCylinder drift test: boom horizontal, engines stopped, oil warm. "
        "Measure the rod movement over 10 minutes. Limits: boom 20 mm, stick 25 mm.",
        doc="hx550.pdf",
        section="",
        dense=0.6,
    )
    manual = manual.model_copy(
        update={"citation": manual.citation.model_copy(update={"title": "HX-550 Excavator Service Manual"})}
    )
    question = "HX-550 excavator cylinder drift test limits?"
    evidence = EvidenceSelector(None, BagOfWordsEmbedder()).select(question, [manual])
    text = evidence[0].text
    assert not text.startswith("HX-550 Excavator Service Manual")  # the running title answers nothing
    assert text.startswith("Cylinder drift test") and "10 minutes" in text and "25 mm" in text


@pytest.mark.unit
def test_a_heading_that_best_matches_the_question_brings_its_section_up_to_the_next_heading() -> None:
    page = passage(
        "3 Oil level check\nCheck the sight glass daily.\n4 Oil change procedure\n- Run until the oil is warm "
        "(40 to 60 degrees C).\n- Drain through the sump drain valve.\n- Refill through the 10 micron filter "
        "cart.\n5 Alignment\nCheck the coupling alignment yearly.",
        doc="gearbox.pdf",
        section="",
        dense=0.5,
    )
    [item] = EvidenceSelector(None, BagOfWordsEmbedder()).select("Oil change procedure steps?", [page])
    assert item.text.startswith("4 Oil change procedure - Run until the oil is warm"), item.text
    assert "10 micron filter cart" in item.text, "the whole procedure, in order"
    assert "Alignment" not in item.text and "sight glass" not in item.text, "the section ends at the next heading"


@pytest.mark.unit
def test_an_option_is_shown_with_the_line_that_introduces_its_list() -> None:
    settings_page = passage(
        "Credential storage You can manage the trusted certificates on your device. From Settings, tap "
        "Biometrics and security > Other security settings for the following options: Storage type: Select a "
        "storage location. View security certificates: Display the certificates you have installed. Clear "
        "credentials: Erase credential contents from the device and reset the password.",
        doc="manual.md",
        section="Credential storage",
        dense=0.5,
    )
    [item] = EvidenceSelector(EvidenceSettings(list_opening=False), BagOfWordsEmbedder()).select(
        "How do I clear credentials and reset the password?", [settings_page]
    )
    assert item.text.startswith("From Settings, tap Biometrics and security > Other security settings"), item.text
    assert item.text.endswith("Clear credentials: Erase credential contents from the device and reset the password.")
    assert "... Clear credentials" in item.text, "the options between are left out, and marked"
    alone = passage("Clear credentials: Erase credential contents from the device.", doc="m.md", dense=0.5)
    [plain] = EvidenceSelector(None, BagOfWordsEmbedder()).select("How do I clear credentials?", [alone])
    assert plain.text == "Clear credentials: Erase credential contents from the device.", "no list, no introduction"


TROUBLESHOOTING = passage(
    "8. TROUBLESHOOTING\n\n"
    "Symptom                      Probable cause                  Action\n"
    "---------------------------  ------------------------------  ------------------------------\n"
    "Packing burns, gland hot     Seal water off or too low       Restore to discharge + 70 kPa\n"
    "                             Gland nuts over-tightened       Slacken until drips return\n"
    "Slurry leaks from gland      Seal water pressure too low     Raise pressure, check flow\n"
    "Bearing housing hot          Too much grease in the gland    Grease to Section 5 quantities\n",
    doc="pump.txt",
    section="8. TROUBLESHOOTING",
    chunk=14,
    rank=1,
    dense=0.5,
)


@pytest.mark.unit
def test_a_fixed_width_table_row_is_shown_with_its_entry_and_never_the_next_entry() -> None:
    selector = EvidenceSelector(None, BagOfWordsEmbedder())
    (leak,) = selector.select("The slurry is leaking from the gland, what do I do?", [TROUBLESHOOTING])
    assert leak.text == "Slurry leaks from gland; Seal water pressure too low; Raise pressure, check flow"
    (hot,) = selector.select("Why does the packing burn and the gland run hot?", [TROUBLESHOOTING])
    assert hot.text == (
        "Packing burns, gland hot; Seal water off or too low; Restore to discharge + 70 kPa "
        "Gland nuts over-tightened; Slacken until drips return"
    ), "the row continuing the entry (its first cell blank) is another cause of the same symptom"


FACE = (
    "Face recognition management Customize how face recognition works. From Settings, tap Biometrics and "
    "security > Face recognition. Remove face data: Delete existing faces. Face unlock: Enable or disable face "
    "recognition security. Faster recognition: Turn on for faster face recognition."
)
FASTER = "Faster recognition: Turn on for faster face recognition."


def _faster(text: str, settings: EvidenceSettings | None = None) -> str:
    page = passage(text, doc="manual.md", section="Face recognition management", dense=0.5)
    [item] = EvidenceSelector(settings, BagOfWordsEmbedder()).select("What does faster recognition do?", [page])
    return str(item.text)


@pytest.mark.unit
def test_an_option_is_shown_after_its_passage_s_opening_when_both_fit_the_budget() -> None:
    # the opening says what the options are for and where they are: the line before them does not
    # introduce a list ("...Face recognition."), so before this rule the option was shown alone
    assert _faster(FACE, EvidenceSettings(list_opening=False)) == FASTER
    assert _faster(FACE) == (
        "Face recognition management Customize how face recognition works. From Settings, tap Biometrics and "
        f"security > Face recognition. ... {FASTER}"
    ), "the options between are left out, and marked"
    # the opening is context: the span alone is scored
    page = passage(FACE, doc="manual.md", section="Face recognition management", dense=0.5)
    scores = [
        EvidenceSelector(EvidenceSettings(list_opening=flag), BagOfWordsEmbedder())
        .select("What does faster recognition do?", [page])[0]
        .score
        for flag in (True, False)
    ]
    assert scores[0] == scores[1]


@pytest.mark.unit
def test_no_opening_for_a_chunk_cut_mid_sentence_another_code_a_running_title_or_past_the_budget() -> None:
    options = "Remove face data: Delete existing faces. Face unlock: Enable it. " + FASTER
    assert _faster("works with the front camera only. " + options) == FASTER, "a chunk cut mid-sentence"
    assert _faster("Model SM-G973 face recognition settings. " + options) == FASTER, "another code"
    assert _faster("Face recognition management\n" + options) == FASTER, "a heading alone"
    assert _faster(FACE, EvidenceSettings(span_words=20)) == FASTER, "opening and span over the budget"


@pytest.mark.unit
def test_given_rarity_weighs_the_question_terms_instead_of_their_rarity_among_the_units() -> None:
    question = "Which seal kit for the pump?"
    selector = EvidenceSelector(None, BagOfWordsEmbedder())
    by_units = {item.citation.doc_id: item.coverage for item in selector.select(question, PASSAGES)}
    # a collection where "pump" is everywhere and "kit" is rare: only the span naming the kit covers much
    rarity = CollectionRarity({"seal": 1.0, "kit": 3.0, "pump": 0.0}, chunks=1000)
    weighed = {item.citation.doc_id: item.coverage for item in selector.select(question, PASSAGES, rarity=rarity)}
    assert weighed["procedures.md"] == pytest.approx(1.0), "its span holds seal and kit MS-4471, under a seal heading"
    assert weighed["pump.md"] == pytest.approx(0.25), "seal only (its heading): 1 of 4"
    assert weighed != by_units
    tiny = CollectionRarity(rarity.weights, chunks=2)  # fewer chunks than candidate units: theirs weigh
    assert {
        item.citation.doc_id: item.coverage for item in selector.select(question, PASSAGES, rarity=tiny)
    } == by_units
