"""``ragfed feedback``: a site admin imports a CMMS log, counts, lists and deletes judgements at the site."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_fed.config import get_settings
from rag_fed.feedback import FEEDBACK_FILE
from rag_fed.site import Site
from rag_fed.training.site_pairs import PAIRS_FILE
from tests.rag_fed.cli.conftest import run_cli
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.unit

MANUAL = "# Pump P-1\n\n## Seal\nReplace seal kit MS-1 when it leaks.\n\n## Bearing\nGrease every 500 h.\n"


@pytest.fixture
def site(data_dir: Path, tmp_path: Path) -> str:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pump.md").write_text(MANUAL)
    settings = get_settings()
    Site.init("north", settings)
    with Site.open("north", settings, embedder=HashEmbedder("hash@1")) as node:
        assert not node.ingest([corpus]).failed
    return "north"


def test_import_stats_list_and_delete(site: str, tmp_path: Path) -> None:
    log = tmp_path / "cmms.csv"
    log.write_text(
        "question,doc_id,section,useful\nseal leaks,pump.md,Seal,1\ngrease?,pump.md,Bearing,0\nx,gone.md,,1\n"
    )
    imported = run_cli("feedback", "import", "--site", site, str(log))
    assert imported.exit_code == 0, imported.output
    assert "3 rows, 2 recorded, 0 already recorded, 1 naming no document of north (e.g. gone.md)" in imported.output

    stats = run_cli("feedback", "stats", "--site", site)
    assert "2 judgements (1 useful, 1 not) on 1 documents for 2 questions" in stats.output
    assert "source import:cmms.csv: 2" in stats.output and "embedder hash@1: 2" in stats.output

    listed = run_cli("feedback", "list", "--site", site)
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert [(row[2], row[3], row[4]) for row in rows] == [
        ("not-useful", "pump.md#Bearing", "grease?"),
        ("useful", "pump.md#Seal", "seal leaks"),
    ]

    deleted = run_cli("feedback", "delete", "--site", site, rows[0][0])
    assert deleted.exit_code == 0 and f"deleted judgement {rows[0][0]}" in deleted.output
    missing = run_cli("feedback", "delete", "--site", site, rows[0][0])
    assert missing.exit_code == 1 and "no judgement" in missing.output
    by_source = run_cli("feedback", "delete", "--site", site, "--source", "import:cmms.csv")
    assert "deleted 1 judgements of import:cmms.csv" in by_source.output
    assert "0 judgements" in run_cli("feedback", "stats", "--site", site).output


def test_a_bad_log_or_unknown_site_is_one_clear_error(site: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,doc_id\n,pump.md\n")
    result = run_cli("feedback", "import", "--site", site, str(bad))
    assert result.exit_code == 1 and "row 1 needs a question and a document" in result.output
    assert "0 judgements" in run_cli("feedback", "stats", "--site", site).output
    unknown = run_cli("feedback", "stats", "--site", "nowhere")
    assert unknown.exit_code == 1 and "no site 'nowhere'" in unknown.output
    both = run_cli("feedback", "delete", "--site", site, "3", "--source", "chat")
    assert both.exit_code == 1 and "not both" in both.output


def test_a_site_without_feedback_says_so_and_gets_no_database(site: str, data_dir: Path) -> None:
    for command in ("stats", "list"):
        result = run_cli("feedback", command, "--site", site)
        assert result.exit_code == 0 and "no feedback yet at site north" in result.output, result.output
    missing = run_cli("feedback", "delete", "--site", site, "1")
    assert missing.exit_code == 1 and "no judgement 1" in missing.output
    assert "deleted 0 judgements" in run_cli("feedback", "delete", "--site", site, "--source", "chat").output
    assert not (data_dir / site / FEEDBACK_FILE).exists()


def test_deleting_feedback_removes_the_mined_pairs(site: str, data_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "cmms.csv"
    log.write_text("question,doc_id,section,useful\nseal leaks,pump.md,Seal,1\ngrease?,pump.md,Bearing,1\n")
    assert run_cli("feedback", "import", "--site", site, str(log)).exit_code == 0
    mined = data_dir / site / PAIRS_FILE
    mined.parent.mkdir(parents=True, exist_ok=True)
    mined.write_text('{"query": "seal leaks", "positive": "Replace seal kit", "split": "train"}\n')
    first = run_cli("feedback", "list", "--site", site).output.splitlines()[0].split("\t")[0]
    deleted = run_cli("feedback", "delete", "--site", site, first)
    assert deleted.exit_code == 0 and "removed the mined pairs of north" in deleted.output, deleted.output
    assert not mined.exists()
    again = run_cli("feedback", "delete", "--site", site, "--source", "import:cmms.csv")
    assert "deleted 1 judgements" in again.output and "removed the mined pairs" not in again.output
