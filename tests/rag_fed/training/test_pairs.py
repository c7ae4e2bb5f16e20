"""Pair mining from a site's chunks: which pairs, dedupe, limits, seeded split, JSONL round trip."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from rag_fed.config import PairMiningSettings
from rag_fed.errors import TrainingError
from rag_fed.training.pairs import (
    PairSplit,
    TrainingChunk,
    TrainingPair,
    load_pairs,
    mine_pairs,
    save_pairs,
    split_pairs,
)

pytestmark = pytest.mark.unit

PUMP_TEXT = "Close the suction valve, open the bleed screw and run the pump until oil flows without air."


def manual(section: str, text: str = PUMP_TEXT, title: str = "HP-200 pump manual") -> TrainingChunk:
    return TrainingChunk(doc_id="m1", title=title, section=section, text=text, kind="manual")


def work_order(text: str, **metadata: str) -> TrainingChunk:
    return TrainingChunk(doc_id="wo", title="", section="", text=text, kind="work_order", metadata=metadata)


def test_manual_chunk_pairs_last_heading_with_text() -> None:
    pairs = mine_pairs([manual("Hydraulics > Pump > Bleeding the pump")])
    assert pairs == [TrainingPair("Bleeding the pump", PUMP_TEXT)]


def test_manual_chunk_without_section_uses_title() -> None:
    assert mine_pairs([manual("")]) == [TrainingPair("HP-200 pump manual", PUMP_TEXT)]


def test_a_passage_opening_with_its_query_can_lose_the_copy() -> None:
    title = "Bleeding the HP-200 pump ."
    chunk = manual("", f"bleeding the hp-200 pump . {PUMP_TEXT}", title=title)
    strip = PairMiningSettings(strip_query_prefix=True)
    assert mine_pairs([chunk], strip) == [TrainingPair(title, PUMP_TEXT)]
    assert mine_pairs([chunk]) == [TrainingPair(title, f"bleeding the hp-200 pump . {PUMP_TEXT}")]
    # A passage that was nothing but its query has nothing left to teach.
    assert mine_pairs([manual("", title + " " + title, title=title)], strip) == []


def test_work_order_symptom_maps_to_record_text() -> None:
    chunk = work_order(
        "Replaced the left bucket cylinder seal kit, tested under load, no leak.",
        Symptom="Bucket cylinder leaking oil",
    )
    pairs = mine_pairs([chunk])
    assert pairs == [TrainingPair("Bucket cylinder leaking oil", chunk.text)]


def test_work_order_repeating_its_symptom_maps_to_action() -> None:
    chunk = work_order("Air horn stuck on", description="Air horn stuck on", action="Replaced horn relay K4")
    pairs = mine_pairs([chunk], PairMiningSettings(min_positive_chars=10))
    assert pairs == [TrainingPair("Air horn stuck on", "Replaced horn relay K4")]


def test_work_order_without_symptom_uses_labels_and_skips_na() -> None:
    chunk = work_order(
        "L/H BUCKET CYL LEAKING, replaced seals and topped up hydraulic oil",
        major_system="Bucket_Hydraulic Cylinders",
        part="NA",
        fm="Leak",
    )
    [pair] = mine_pairs([chunk])
    assert pair.query == "Bucket Hydraulic Cylinders Leak"


def test_work_order_with_nothing_to_ask_is_skipped() -> None:
    assert mine_pairs([work_order("Fix compressor shutdown fault at the east plant")]) == []


def test_duplicates_short_texts_and_extra_pairs_per_query_are_dropped() -> None:
    settings = PairMiningSettings(max_pairs_per_query=2)
    chunks = [
        manual("Bleeding"),
        manual("bleeding"),  # same pair, other case
        manual("Bleeding", "Too short."),
        manual("Ok", PUMP_TEXT + " Twice."),  # query too short
        manual("Bleeding", PUMP_TEXT + " Second chunk."),
        manual("Bleeding", PUMP_TEXT + " Third chunk."),
    ]
    pairs = mine_pairs(chunks, settings)
    assert sorted(p.positive for p in pairs) == [PUMP_TEXT, PUMP_TEXT + " Second chunk."]


def test_long_positive_is_cut_and_max_pairs_applies() -> None:
    chunks = [manual(f"Section number {i}", PUMP_TEXT * 20) for i in range(10)]
    pairs = mine_pairs(chunks, PairMiningSettings(max_positive_chars=100, max_pairs=4))
    assert len(pairs) == 4
    assert all(len(p.positive) == 100 for p in pairs)


def test_shuffle_is_seeded() -> None:
    chunks = [manual(f"Section number {i}") for i in range(30)]
    first = mine_pairs(chunks, PairMiningSettings(seed=7))
    assert first == mine_pairs(chunks, PairMiningSettings(seed=7))
    assert first != mine_pairs(chunks, PairMiningSettings(seed=8))


def test_split_keeps_each_query_on_one_side() -> None:
    pairs = [TrainingPair(f"query {i % 10}", f"{PUMP_TEXT} variant {i}") for i in range(40)]
    split = split_pairs(pairs, val_fraction=0.2, seed=1)
    train_queries = {p.query for p in split.train}
    val_queries = {p.query for p in split.val}
    assert len(val_queries) == 2
    assert not train_queries & val_queries
    assert len(split.train) + len(split.val) == 40
    assert split == split_pairs(pairs, val_fraction=0.2, seed=1)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    split = PairSplit(train=(TrainingPair("a query", "a passage"),), val=(TrainingPair("b", "c"),))
    path = save_pairs(tmp_path / "site" / "training" / "pairs.jsonl", split)
    assert load_pairs(path) == split
    # engineers' questions and the site's passages: readable by the site's user only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary file left beside it"


def test_pairs_with_hard_negatives_round_trip_beside_pairs_without(tmp_path: Path) -> None:
    with_negatives = TrainingPair("pump cavitates", "Open the strainer.", ("Belt tension.", "Bearing noise."))
    split = PairSplit(train=(with_negatives, TrainingPair("a query", "a passage")), val=())
    path = save_pairs(tmp_path / "pairs.jsonl", split)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["negatives"] == ["Belt tension.", "Bearing noise."]
    assert "negatives" not in rows[1]  # files stay as they were for pairs without
    assert load_pairs(path) == split


def test_a_pairs_file_written_before_negatives_still_loads(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    old.write_text('{"split": "train", "query": "q", "positive": "p"}\n{"query": "r", "positive": "s"}\n')
    assert load_pairs(old).train == (TrainingPair("q", "p"), TrainingPair("r", "s"))
    assert all(pair.negatives == () for pair in load_pairs(old).train)


def test_negatives_that_are_not_a_list_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "positive": "p"}\n{"query": "q", "positive": "p", "negatives": "x"}\n')
    with pytest.raises(TrainingError, match=r"bad\.jsonl:2"):
        load_pairs(bad)


def test_load_refuses_missing_empty_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="does not exist"):
        load_pairs(tmp_path / "absent.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(TrainingError, match="no training pairs"):
        load_pairs(empty)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"query": "x"}\n', encoding="utf-8")
    with pytest.raises(TrainingError, match=r"broken\.jsonl:1"):
        load_pairs(broken)


def test_work_order_with_labelled_problem_and_action_lines_pairs_them() -> None:
    chunk = work_order(
        "Problem: Conveyor C3 belt slipping under load\nAction: Re-tensioned belt and cleaned the drive pulley"
    )
    assert mine_pairs([chunk], PairMiningSettings(min_positive_chars=10)) == [
        TrainingPair("Conveyor C3 belt slipping under load", "Re-tensioned belt and cleaned the drive pulley")
    ]
    # A lone labelled description answers nothing: no pair.
    assert mine_pairs([work_order("description: Air horn stuck on")]) == []


THREE_SENTENCES = (
    "Close the suction valve before any work on the pump. "
    "Open the bleed screw on top of the casing by two turns. "
    "Run the pump until the oil flows without air bubbles."
)


def test_sentence_pairs_ask_with_one_sentence_for_the_rest_of_the_chunk() -> None:
    sentences = THREE_SENTENCES.split(". ")
    settings = PairMiningSettings(sentence_pairs=2, seed=3)
    pairs = mine_pairs([manual("Bleeding", THREE_SENTENCES)], settings)
    heading = [p for p in pairs if p.query == "Bleeding"]
    cloze = [p for p in pairs if p.query != "Bleeding"]
    assert heading == [TrainingPair("Bleeding", THREE_SENTENCES)]
    assert len(cloze) == 2
    for pair in cloze:
        assert pair.query in THREE_SENTENCES and pair.query not in pair.positive
        # the positive is every other sentence, in order
        rest = [s.rstrip(".") for s in sentences if s.rstrip(".") not in pair.query]
        assert [s.rstrip(".") for s in pair.positive.split(". ")] == rest
    assert mine_pairs([manual("Bleeding", THREE_SENTENCES)], settings) == pairs  # seeded


def test_sentence_pairs_skip_short_sentences_single_sentences_and_work_orders() -> None:
    short = "Stop the pump. Open the bleed screw on top of the casing by two turns."
    settings = PairMiningSettings(sentence_pairs=5, min_positive_chars=5)
    cloze = [p for p in mine_pairs([manual("Bleeding", short)], settings) if p.query != "Bleeding"]
    assert cloze == [TrainingPair("Open the bleed screw on top of the casing by two turns.", "Stop the pump.")]
    assert [p.query for p in mine_pairs([manual("Bleeding")], settings)] == ["Bleeding"]  # one sentence
    order = work_order(THREE_SENTENCES, Symptom="Air in the pump")
    assert [p.query for p in mine_pairs([order], settings)] == ["Air in the pump"]


def test_sentences_end_at_stops_but_not_after_abbreviations() -> None:
    text = "see fig. 3 for the pump . the seal e.g. the lip seal leaks! J. Doe wrote it. was it? yes"
    pairs = mine_pairs(
        [manual("Seal", text)], PairMiningSettings(sentence_pairs=9, min_sentence_words=1, min_query_chars=1)
    )
    queries = {p.query for p in pairs} - {"Seal"}
    expected = {"see fig. 3 for the pump .", "the seal e.g. the lip seal leaks!", "J. Doe wrote it.", "was it?", "yes"}
    assert queries == expected
