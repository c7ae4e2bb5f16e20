"""The sample federation's question sets, checked against the documents as the site connectors ingest them.

Answerable questions: every ``expected`` string must be in the ingested text of a gold passage (what a
site could retrieve), not only in the raw file. Unanswerable questions: the codes and equipment they ask
about must be absent from every ingested document.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from connectors import Document, SourceData, WorkOrderColumns, load_documents
from connectors.worklogs import WorkOrderConnector
from rag_fed.samples import (
    GoldPassage,
    SampleQuestion,
    SampleSite,
    UnanswerableQuestion,
    federation_dir,
    load_questions,
    load_sites,
    load_unanswerable,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
S10_UNANSWERABLE = REPO / "eval_sets" / "s10_unanswerable.jsonl"
S10_CORPUS = REPO.parent / "shared" / "datasets" / "emanual_s10" / "beir" / "corpus.jsonl"
UNANSWERABLE_TAGS = {"other-equipment", "near-miss"}
# A fault code as the manuals write them: C-104, F-217, E-112, VF-07, ALM 452.
FAULT_CODE = re.compile(r"\b(?:[A-Z]-\d{3}|VF-\d{2}|ALM \d{3})\b")
# Equipment that the other-equipment questions name and that no sample document mentions.
ABSENT_EQUIPMENT = {
    "u01": "cooling tower",
    "u02": "boiler",
    "u03": "forklift",
    "u04": "robot",
    "u05": "atlas copco",
    "u06": "cat 793",
    "u07": "grundfos",
    "u08": "stacker",
    "u09": "crane",
    "u10": "labeller",
    "u11": "chiller",
    "u12": "generator",
    "u13": "closed side setting",
}
# Specifications the S10 near misses ask for, none of which the manual gives.
S10_ABSENT = {"mah", "megapixel", "safe mode", "roll back", "processor", "5g", r"\bsar\b", r"\bram\b"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@functools.cache
def _sites() -> dict[str, SampleSite]:
    return {site.id: site for site in load_sites()}


def _columns(site: SampleSite) -> WorkOrderColumns:
    log = site.work_orders
    # sites.json writes null for "the log has no such column"; the connector spells that "".
    return WorkOrderColumns(
        id=log.id or "",
        text=log.text,
        asset=log.asset or "",
        date=log.date or "",
        order_type=log.order_type or "",
    )


@functools.cache
def _ingested(site_id: str, file: str) -> tuple[Document, ...]:
    """The documents a site's connectors make of one sample file."""
    site = _sites()[site_id]
    path = site.root / file
    source = SourceData(str(path), path.read_bytes())
    if path == site.work_orders.path:
        return tuple(WorkOrderConnector(columns=_columns(site)).load(source))
    return tuple(load_documents(source))


def _passage_texts(passage: GoldPassage) -> list[str]:
    """The ingested text of the part of the file a gold passage names (title included for a work order)."""
    documents = _ingested(passage.site, passage.file)
    if passage.file.startswith("logs/"):
        key = passage.section.replace("row ", "row-") if passage.section.startswith("row ") else passage.section
        return [f"{doc.title}\n{doc.text}" for doc in documents if doc.key == key]
    if passage.file.endswith(".pdf"):
        return [s.text for doc in documents for s in doc.sections if s.page == int(passage.section)]
    named = [
        s.text for doc in documents for s in doc.sections if s.heading.rsplit(" > ", 1)[-1].strip() == passage.section
    ]
    # The text connector does not split at underlined headings: the whole file is then the passage.
    return named or [doc.text for doc in documents]


@functools.cache
def _all_ingested_text() -> str:
    texts = []
    for site in _sites().values():
        for path in site.files:
            for doc in _ingested(site.id, str(path.relative_to(site.root))):
                texts.append(f"{doc.title}\n{doc.text}\n{' '.join(doc.metadata.values())}")
    return "\n".join(texts).lower()


@pytest.fixture(scope="module")
def questions() -> list[SampleQuestion]:
    return load_questions()


@pytest.fixture(scope="module")
def unanswerable() -> list[UnanswerableQuestion]:
    return load_unanswerable()


def test_the_question_set_is_large_and_spread_over_sites_and_formats(questions: list[SampleQuestion]) -> None:
    assert len(questions) >= 42
    assert [q.id for q in questions] == [f"q{n:02d}" for n in range(1, len(questions) + 1)]
    cited = {(passage.site, Path(passage.file).suffix) for q in questions for passage in q.gold}
    for site in ("plant-north", "plant-south", "plant-east"):
        assert {suffix for cited_site, suffix in cited if cited_site == site} >= {".md", ".html", ".pdf", ".txt"}
    assert {suffix for _site, suffix in cited} >= {".csv", ".jsonl"}
    assert sum("work-orders" in q.tags for q in questions) >= 10
    assert sum("multi-site" in q.tags for q in questions) >= 4


def test_every_question_has_one_to_four_distinct_expected_strings(questions: list[SampleQuestion]) -> None:
    for question in questions:
        assert 1 <= len(question.expected) <= 4, question.id
        assert len(set(question.expected)) == len(question.expected), question.id
        assert all(value.strip() for value in question.expected), question.id


def test_every_expected_string_is_in_the_ingested_text_of_a_gold_passage(questions: list[SampleQuestion]) -> None:
    for question in questions:
        texts = [_norm(text) for passage in question.gold for text in _passage_texts(passage)]
        assert texts, f"{question.id}: no gold passage found in the ingested documents"
        for value in question.expected:
            assert any(_norm(value) in text for text in texts), f"{question.id}: {value!r} not in its gold passages"


def test_every_gold_passage_is_found_in_the_ingested_documents(questions: list[SampleQuestion]) -> None:
    for question in questions:
        for passage in question.gold:
            texts = [_norm(text) for text in _passage_texts(passage)]
            # Tables come out of the connectors as "cell | cell"; the passage is compared without the bars.
            flat = [re.sub(r" ?\| ?", " ", text) for text in texts]
            assert any(_norm(passage.contains) in text for text in texts + flat), f"{question.id}: {passage}"


def test_the_gold_answer_states_every_expected_string(questions: list[SampleQuestion]) -> None:
    for question in questions:
        for value in question.expected:
            assert _norm(value) in _norm(question.answer), f"{question.id}: answer lacks {value!r}"


def test_unanswerable_questions_are_well_formed(
    questions: list[SampleQuestion], unanswerable: list[UnanswerableQuestion]
) -> None:
    assert len(unanswerable) >= 24
    assert [q.id for q in unanswerable] == [f"u{n:02d}" for n in range(1, len(unanswerable) + 1)]
    assert not {q.id for q in unanswerable} & {q.id for q in questions}
    tags = Counter(tag for q in unanswerable for tag in q.tags)
    assert set(tags) == UNANSWERABLE_TAGS
    assert min(tags.values()) >= len(unanswerable) // 2 - 1, tags
    for question in unanswerable:
        assert len(question.tags) == 1 and question.question.strip() and question.why.strip(), question.id
        assert question.near_miss == (question.tags == ("near-miss",))
    answerable = {_norm(q.question).lower() for q in questions}
    assert not answerable & {_norm(q.question).lower() for q in unanswerable}


def test_fault_codes_asked_about_by_near_misses_are_in_no_document(unanswerable: list[UnanswerableQuestion]) -> None:
    codes = {code for q in unanswerable if q.near_miss for code in FAULT_CODE.findall(q.question)}
    assert len(codes) >= 4, codes
    corpus = _all_ingested_text()
    assert all(code.lower() not in corpus for code in codes), codes
    # The check itself can see documented codes.
    assert "c-104" in corpus and "alm 452" in corpus and "vf-07" in corpus


def test_equipment_of_other_equipment_questions_is_in_no_document(unanswerable: list[UnanswerableQuestion]) -> None:
    by_id = {q.id: q for q in unanswerable}
    corpus = _all_ingested_text()
    for qid, term in ABSENT_EQUIPMENT.items():
        assert by_id[qid].tags == ("other-equipment",)
        assert term in by_id[qid].question.lower(), qid
        assert term not in corpus, f"{qid}: {term!r} occurs in the sample documents"
    assert {q.id for q in unanswerable if not q.near_miss} == set(ABSENT_EQUIPMENT)


def test_load_unanswerable_reads_a_copy_of_the_federation_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "unanswerable.jsonl").write_text(
        json.dumps({"id": "u01", "question": "Q?", "tags": ["near-miss"], "why": "Because."}) + "\n\n",
        encoding="utf-8",
    )
    [question] = load_unanswerable(tmp_path)
    assert question == UnanswerableQuestion(id="u01", question="Q?", why="Because.", tags=("near-miss",))
    assert load_unanswerable(tmp_path / "unanswerable.jsonl") == [question]
    assert load_unanswerable() == load_unanswerable(federation_dir())


def test_the_s10_unanswerable_set_is_well_formed() -> None:
    questions = load_unanswerable(S10_UNANSWERABLE)
    assert len(questions) >= 24
    assert [q.id for q in questions] == [f"s10u{n:02d}" for n in range(1, len(questions) + 1)]
    tags = Counter(tag for q in questions for tag in q.tags)
    assert set(tags) == UNANSWERABLE_TAGS and min(tags.values()) >= 10, tags
    assert all(q.why.strip() for q in questions)


@pytest.mark.skipif(not S10_CORPUS.is_file(), reason="the S10 manual corpus is not in the shared datasets")
def test_the_s10_manual_gives_none_of_the_asked_for_specifications() -> None:
    corpus = "\n".join(
        f"{doc['title']} {doc['text']}".lower()
        for doc in map(json.loads, S10_CORPUS.read_text(encoding="utf-8").splitlines())
    )
    asked = " ".join(q.question.lower() for q in load_unanswerable(S10_UNANSWERABLE) if q.near_miss)
    for term in S10_ABSENT:
        assert re.search(term, asked), f"no near miss asks about {term!r}"
        assert not re.search(term, corpus), f"{term!r} occurs in the S10 manual"
    assert "factory data reset" in corpus  # the corpus was read
