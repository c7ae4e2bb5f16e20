"""Pairs from engineers' judgements: anchors resolved to chunks, vanished documents skipped, hard negatives
taken from the not-useful judgements first and never from what was accepted."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import numpy as np
import pytest

from rag_fed.feedback.log import NewJudgement
from rag_fed.training.feedback_pairs import FeedbackChunk, FeedbackPairs, feedback_pairs, question_key

pytestmark = pytest.mark.unit

CHUNKS = [
    FeedbackChunk(0, "manual.pdf", "Bleed the pump at the top screw.", "Pump > Bleeding", page=12),
    FeedbackChunk(1, "manual.pdf", "Prime the pump with 2 litres of oil.", "Pump > Priming", page=12),
    FeedbackChunk(2, "manual.pdf", "Pump wiring diagram.", "Pump > Wiring", page=13),
    FeedbackChunk(3, "guide.md", "Open the bleed screw until oil flows.", "Hydraulics > Pump > Bleeding the pump"),
    FeedbackChunk(4, "guide.md", "Belt deflection is 2 percent of the span.", "Hydraulics > Belt tension"),
    FeedbackChunk(5, "guide.md", "Grease bearings every 500 hours.", "Hydraulics > Bearing noise"),
    FeedbackChunk(6, "wo-7", "Replaced the suction strainer of pump P4."),
]
# The site's ranking for every question: chunk 1 first, then 0, 3, 2, 6, 4, 5.
SITE_SCORES = np.array([0.8, 0.9, 0.6, 0.7, 0.2, 0.1, 0.5], dtype=np.float32)
_ids = count()


def judged(question: str, doc_id: str, anchor: str = "", useful: bool = True) -> NewJudgement:
    return NewJudgement(f"r{next(_ids)}", question, doc_id, anchor, useful, "packaged@0")


def site_ranking(questions: Sequence[str]) -> np.ndarray:
    return np.tile(SITE_SCORES, (len(questions), 1))


def build(judgements: list[NewJudgement], hard_negatives: int = 3) -> FeedbackPairs:
    return feedback_pairs(judgements, CHUNKS, site_ranking, hard_negatives=hard_negatives)


def test_a_page_anchor_takes_the_chunk_of_that_page_the_site_ranks_highest() -> None:
    built = build([judged("how to prime the pump", "manual.pdf", "p12")])
    assert [pair.positive for pair in built.pairs] == [CHUNKS[1].text]  # page 12 holds chunks 0 and 1


def test_a_heading_anchor_is_matched_as_citations_name_it_and_case_insensitively() -> None:
    innermost = build([judged("bleeding", "guide.md", "Bleeding the pump")])
    assert innermost.pairs[0].positive == CHUNKS[3].text
    shouted = build([judged("bleeding", "guide.md", "BLEEDING  the pump")])
    assert shouted.pairs[0].positive == CHUNKS[3].text
    # An imported log may name a heading of a PDF's chunks, or an outer heading of the section path.
    heading_of_a_pdf = build([judged("wiring", "manual.pdf", "Wiring")])
    assert heading_of_a_pdf.pairs[0].positive == CHUNKS[2].text
    outer = build([judged("hydraulics", "guide.md", "Hydraulics")])
    assert outer.pairs[0].positive == CHUNKS[3].text  # the best ranked of the section's chunks
    assert innermost.anchors_not_found == outer.anchors_not_found == 0


def test_the_whole_document_stands_in_for_an_empty_or_unknown_anchor() -> None:
    whole = build([judged("guide", "guide.md", "")])
    assert whole.pairs[0].positive == CHUNKS[3].text and whole.anchors_not_found == 0
    unknown = build([judged("guide", "guide.md", "A heading that was renamed")])
    assert unknown.pairs[0].positive == CHUNKS[3].text and unknown.anchors_not_found == 1


def test_a_judgement_whose_document_is_gone_is_skipped_and_counted() -> None:
    built = build([judged("strainer", "deleted.pdf", "p3"), judged("strainer", "wo-7"), judged("x", "gone", "", False)])
    assert built.vanished_documents == 2 and built.judgements == 3
    assert [(pair.query, pair.positive) for pair in built.pairs] == [("strainer", CHUNKS[6].text)]


def test_not_useful_passages_come_first_then_the_sites_top_ranked_never_an_accepted_one() -> None:
    built = build(
        [
            judged("prime the pump", "manual.pdf", "p12"),  # accepts chunks 0 and 1 (page 12)
            judged("prime the pump", "guide.md", "Bearing noise", useful=False),  # ranked last by the site
            judged("prime the pump", "manual.pdf", "p12", useful=False),  # another engineer disagrees
        ]
    )
    (pair,) = built.pairs
    assert pair.positive == CHUNKS[1].text
    # Chunk 5 first (judged not useful), then the site's ranking without page 12: chunks 3 and 2.
    assert pair.negatives == (CHUNKS[5].text, CHUNKS[3].text, CHUNKS[2].text)
    assert CHUNKS[0].text not in pair.negatives  # under the accepted anchor, though ranked second


def test_every_accepted_chunk_of_a_question_is_kept_out_of_its_negatives() -> None:
    built = build([judged("pump", "manual.pdf", "p12"), judged("pump", "guide.md", "Bleeding the pump")])
    assert {pair.positive for pair in built.pairs} == {CHUNKS[1].text, CHUNKS[3].text}
    for pair in built.pairs:
        assert pair.negatives == (CHUNKS[2].text, CHUNKS[6].text, CHUNKS[4].text)


def test_a_fixed_number_of_negatives_or_none() -> None:
    judgements = [judged("pump", "wo-7")]
    assert [len(pair.negatives) for pair in build(judgements, hard_negatives=1).pairs] == [1]
    assert [len(pair.negatives) for pair in build(judgements, hard_negatives=6).pairs] == [6]
    none = build([*judgements, judged("pump", "guide.md", "Belt tension", useful=False)], hard_negatives=0)
    assert [pair.negatives for pair in none.pairs] == [()]


def test_a_passage_text_is_never_both_positive_and_negative_nor_a_negative_twice() -> None:
    copies = [
        *CHUNKS[:6],
        FeedbackChunk(6, "wo-7", CHUNKS[1].text),  # the same text as the accepted chunk, in another document
        FeedbackChunk(7, "wo-8", CHUNKS[3].text.upper()),  # the same text as a negative, another case
    ]
    scores = np.array([0.8, 0.9, 0.6, 0.7, 0.2, 0.1, 0.95, 0.65], dtype=np.float32)
    built = feedback_pairs(
        [judged("pump", "manual.pdf", "p12")], copies, lambda qs: np.tile(scores, (len(qs), 1)), hard_negatives=4
    )
    (pair,) = built.pairs
    assert pair.positive == CHUNKS[1].text
    assert pair.negatives == (CHUNKS[3].text, CHUNKS[2].text, CHUNKS[4].text, CHUNKS[5].text)


def test_questions_are_grouped_case_and_space_insensitively() -> None:
    built = build(
        [
            judged("How do I bleed the pump?", "manual.pdf", "p12"),
            judged("how do i  bleed the PUMP?", "guide.md", "Bleeding the pump"),
            judged("how do I bleed the pump?", "manual.pdf", "p12"),  # the same passage again
        ]
    )
    assert built.questions == 1
    assert {pair.query for pair in built.pairs} == {"How do I bleed the pump?"}
    assert sorted(pair.positive for pair in built.pairs) == sorted([CHUNKS[1].text, CHUNKS[3].text])
    assert question_key(" How do\tI bleed ") == "how do i bleed"


def test_a_question_judged_only_not_useful_gives_no_pair() -> None:
    built = build([judged("belts", "guide.md", "Belt tension", useful=False), judged("pump", "wo-7")])
    assert built.without_useful == 1 and built.questions == 1
    assert [pair.query for pair in built.pairs] == ["pump"]


def test_questions_are_scored_in_batches_each_against_its_own_row() -> None:
    def by_question(questions: Sequence[str]) -> np.ndarray:
        # Question i ranks chunk i % 7 first: a row mixed up with another question's would show.
        rows = np.zeros((len(questions), len(CHUNKS)), dtype=np.float32)
        for row, question in enumerate(questions):
            rows[row, int(question.split()[-1]) % len(CHUNKS)] = 1.0
        return rows

    judgements = [judged(f"question {i}", "wo-7") for i in range(150)]
    built = feedback_pairs(judgements, CHUNKS, by_question, hard_negatives=1)
    assert len(built.pairs) == 150
    for i, pair in enumerate(built.pairs):
        first = CHUNKS[i % len(CHUNKS)].text
        assert pair.negatives == ((first,) if first != CHUNKS[6].text else (CHUNKS[0].text,))


def test_negatives_are_found_below_the_top_the_partial_sort_looks_at() -> None:
    chunks = [FeedbackChunk(0, "a", "the accepted passage")]
    chunks += [FeedbackChunk(i, f"d{i}", "one text copied many times") for i in range(1, 998)]
    chunks += [FeedbackChunk(998, "d998", "second to last"), FeedbackChunk(999, "d999", "last")]
    scores = np.linspace(1.0, 0.0, len(chunks), dtype=np.float32)  # chunk 0 first, chunk 999 last
    built = feedback_pairs([judged("q", "a")], chunks, lambda qs: np.tile(scores, (len(qs), 1)), hard_negatives=3)
    assert built.pairs[0].negatives == ("one text copied many times", "second to last", "last")
