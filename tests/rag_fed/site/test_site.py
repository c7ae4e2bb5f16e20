"""The site node end to end on real files, the real packaged embedder, FAISS and SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_fed.config import IngestSettings, Settings
from rag_fed.errors import ConfigError, InputError, UnknownDocumentError, UnknownSiteError
from rag_fed.site import Site

pytestmark = pytest.mark.integration

PUMP_MANUAL = """# Slurry pump SP-40 manual

## Mechanical seal replacement
Isolate the pump and lock out breaker MCC-7 before work. Replace the mechanical seal kit MS-4471
when leakage exceeds 20 drops per minute. Torque the gland bolts to 35 Nm in a cross pattern.

## Bearing lubrication
Grease the drive-end bearing 6310-C3 every 500 running hours with lithium complex grease, 12 g per shot.
"""

CONVEYOR_MANUAL = """# Conveyor C3 manual

## Belt tracking
If the belt runs off to one side, adjust the snub pulley take-up by a quarter turn and observe for
five minutes. Fault code F-217 signals bearing overtemperature on the head pulley.
"""

WORK_ORDERS = """wo_id,date,asset,description,action
1001,2024-01-03,C3,head pulley bearing hot F-217,replaced bearing 22216
1002,2024-02-11,SP-40,gland leaking badly,replaced mechanical seal MS-4471
1003,2024-03-20,C3,belt tracking off to left,adjusted snub pulley
"""


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "pump.md").write_text(PUMP_MANUAL)
    (folder / "conveyor.md").write_text(CONVEYOR_MANUAL)
    (folder / "orders.csv").write_text(WORK_ORDERS)
    return folder


@pytest.fixture()
def site(settings: Settings, packaged_embedder: object, corpus: Path) -> Site:  # type: ignore[misc]
    Site.init("plant-1", settings)
    node = Site.open("plant-1", settings, embedder=packaged_embedder)  # type: ignore[arg-type]
    report = node.ingest([corpus])
    assert not report.failed, report.failed
    assert node.start_keyword_index(wait=None)  # as site services do: one keyword ranker for every test
    yield node
    node.close()


def _doc_ids(node: Site) -> dict[str, int]:
    return {doc.doc_id: doc.chunk_count for doc in node.list_documents()}


def test_init_refuses_an_existing_site_and_open_refuses_an_unknown_one(settings: Settings) -> None:
    layout = Site.init("north-1", settings)
    assert (layout.keys_dir / "public.key").is_file()
    with pytest.raises(ConfigError, match="already exists"):
        Site.init("north-1", settings)
    with pytest.raises(UnknownSiteError, match="ragfed site init nowhere"):
        Site.open("nowhere", settings)
    for bad in ("Bad Id!", "abc\n", "-lead", "x" * 64):
        with pytest.raises(InputError, match="invalid site id"):
            Site.init(bad, settings)


def test_ingest_lists_documents_and_work_orders(site: Site) -> None:
    docs = _doc_ids(site)
    assert docs["pump.md"] >= 1 and docs["conveyor.md"] >= 1
    orders = [doc for doc in site.list_documents() if doc.kind == "work_order"]
    assert len(orders) == 3
    assert {doc.metadata.get("asset") for doc in orders} == {"C3", "SP-40"}
    assert site.chunk_count == sum(docs.values())


def test_search_ranks_the_right_passage_with_its_citation(site: Site) -> None:
    passages = site.search("how often should the drive end bearing be greased", k=3)
    assert passages[0].citation.doc_id == "pump.md"
    assert passages[0].citation.section.endswith("Bearing lubrication")
    assert [p.rank for p in passages] == [1, 2, 3]


def test_keyword_and_hybrid_modes_find_exact_part_numbers(site: Site) -> None:
    keyword = site.search("MS-4471", k=5, mode="keyword")
    assert keyword and all("MS-4471" in p.text for p in keyword)
    hybrid = site.search("seal kit MS-4471", k=5, mode="hybrid")
    assert {p.citation.doc_id for p in hybrid} & {"pump.md", "orders.csv/1002"}


def test_passages_carry_the_component_scores_the_router_fuses(site: Site) -> None:
    dense = site.search("seal kit MS-4471", k=5, mode="dense")
    keyword = site.search("seal kit MS-4471", k=5, mode="keyword")
    hybrid = site.search("seal kit MS-4471", k=5, mode="hybrid")
    assert all(p.dense_score == p.score and p.keyword_score is None for p in dense)
    assert all(p.keyword_score == p.score and p.dense_score is None for p in keyword)
    cosine = {p.chunk_id: p.dense_score for p in site.search("seal kit MS-4471", k=50, mode="dense")}
    bm25 = {p.chunk_id: p.keyword_score for p in site.search("seal kit MS-4471", k=50, mode="keyword")}
    for p in hybrid:
        assert p.dense_score == cosine.get(p.chunk_id) and p.keyword_score == bm25.get(p.chunk_id)
    assert any(p.dense_score is not None and p.keyword_score is not None for p in hybrid)


def test_evidence_is_the_sentence_of_the_top_passages_that_answers(site: Site) -> None:
    question = "What torque for the gland bolts of the slurry pump?"
    passages = site.search(question, k=5)
    evidence = site.evidence(question, passages)
    assert evidence and evidence[0].citation.doc_id == "pump.md"
    assert evidence[0].text == "Torque the gland bolts to 35 Nm in a cross pattern."
    assert {item.chunk_id for item in evidence} <= {p.chunk_id for p in passages}
    assert site.evidence(question, []) == []


def test_a_site_answers_from_its_evidence_or_says_its_documents_do_not_cover_it(site: Site) -> None:
    answer = site.answer("What does fault code F-217 signal?", strategy="extractive")
    assert answer.site_id == "plant-1" and answer.model == "" and answer.passages
    assert answer.evidence and "overtemperature" in answer.answer
    assert answer.evidence[0].citation.label in answer.answer
    refused = site.answer("What does fault code X-999 mean on the palletiser robot?", strategy="extractive")
    assert refused.evidence == []
    assert refused.answer.startswith("The documents of the sites asked (plant-1) do not cover this question.")


def test_reingest_skips_unchanged_and_replaces_changed(site: Site, corpus: Path) -> None:
    before = _doc_ids(site)
    again = site.ingest([corpus])
    assert {result.status for result in again.files} == {"unchanged"}
    assert _doc_ids(site) == before

    (corpus / "pump.md").write_text(PUMP_MANUAL.replace("35 Nm", "42 Nm"))
    changed = site.ingest([corpus])
    statuses = {Path(result.source).name: result.status for result in changed.files}
    assert statuses == {"pump.md": "updated", "conveyor.md": "unchanged", "orders.csv": "unchanged"}
    texts = " ".join(p.text for p in site.search("gland bolt torque", k=5, mode="keyword"))
    assert "42 Nm" in texts and "35 Nm" not in texts
    assert site.chunk_count == sum(_doc_ids(site).values())


def test_removed_rows_of_a_log_are_deleted_on_reingest(site: Site, corpus: Path) -> None:
    (corpus / "orders.csv").write_text("\n".join(WORK_ORDERS.strip().splitlines()[:2]) + "\n")
    report = site.ingest([corpus / "orders.csv"])
    assert report.files[0].removed == 2
    assert [d for d in _doc_ids(site) if d.startswith("orders.csv/")] == ["orders.csv/1001"]


def test_after_one_record_of_a_log_changed_the_next_reingest_reports_unchanged(site: Site, corpus: Path) -> None:
    """It reported "1 updated" (0 documents written) on every later re-ingest of the same file, forever."""
    lines = WORK_ORDERS.strip().splitlines()
    lines[1] = lines[1] + " (re-torqued)"
    (corpus / "orders.csv").write_text("\n".join(lines) + "\n")
    changed = site.ingest([corpus / "orders.csv"]).files[0]
    assert (changed.status, changed.documents, changed.unchanged) == ("updated", 1, len(lines) - 2)
    for _ in range(2):
        again = site.ingest([corpus / "orders.csv"]).files[0]
        assert (again.status, again.documents, again.unchanged) == ("unchanged", 0, len(lines) - 1), again


def test_delete_really_removes_vectors_and_keywords(site: Site) -> None:
    chunks_before = site.chunk_count
    removed = site.delete_document("pump.md")
    assert removed >= 1 and site.chunk_count == chunks_before - removed
    for mode in ("dense", "keyword", "hybrid"):
        hits = site.search("mechanical seal gland bolts torque 35 Nm", k=20, mode=mode)  # type: ignore[arg-type]
        assert all(p.citation.doc_id != "pump.md" for p in hits), mode
    with pytest.raises(UnknownDocumentError):
        site.delete_document("pump.md")


def test_bad_files_fail_alone_with_clear_reasons(site: Site, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    (bad / "junk.csv").write_bytes(bytes(range(256)) * 8)
    (bad / "empty.md").write_text("")
    (bad / "latin1.txt").write_bytes("Lager überhitzt bei Förderband".encode("latin-1"))
    (bad / "good.txt").write_text("Compressor CP-9 oil change every 2000 hours.")
    (bad / "notes.docx").write_bytes(b"PK\x03\x04")
    before = _doc_ids(site)
    report = site.ingest([bad, bad / "notes.docx"])
    failed = {Path(r.source).name: r.error or "" for r in report.failed}
    assert set(failed) == {"broken.pdf", "junk.csv", "empty.md", "latin1.txt", "notes.docx"}
    for name, reason in failed.items():
        assert name in reason
    assert "good.txt" in _doc_ids(site)
    after = _doc_ids(site)
    assert all(after[doc_id] == count for doc_id, count in before.items())


def test_oversized_files_are_refused_before_reading(
    settings: Settings, packaged_embedder: object, tmp_path: Path
) -> None:
    small = settings.model_copy(update={"ingest": IngestSettings(max_file_bytes=100)})
    Site.init("tiny", small)
    big = tmp_path / "big.txt"
    big.write_text("x " * 200)
    with Site.open("tiny", small, embedder=packaged_embedder) as node:  # type: ignore[arg-type]
        report = node.ingest([big])
        assert report.files[0].status == "failed"
        assert "over the limit of 100 bytes" in (report.files[0].error or "")
        upload = node.ingest_upload("big.txt", b"y " * 200)
        assert upload.status == "failed" and "over the limit" in (upload.error or "")
        assert node.chunk_count == 0


def test_upload_is_ingested_under_its_name(site: Site) -> None:
    result = site.ingest_upload("../../etc/compressor.md", b"# Compressor\n\nDrain the receiver daily.")
    assert result.status == "added"
    assert "compressor.md" in _doc_ids(site)


def test_site_survives_reopen(settings: Settings, packaged_embedder: object, corpus: Path) -> None:
    Site.init("plant-2", settings)
    with Site.open("plant-2", settings, embedder=packaged_embedder) as node:  # type: ignore[arg-type]
        node.ingest([corpus])
        docs = _doc_ids(node)
    with Site.open("plant-2", settings, embedder=packaged_embedder) as reopened:  # type: ignore[arg-type]
        assert _doc_ids(reopened) == docs
        assert reopened.search("belt tracking snub pulley", k=1)[0].citation.doc_id == "conveyor.md"
