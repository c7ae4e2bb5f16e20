"""``ragfed docs list`` shows document ids whole at 80 columns (they are what ``docs delete`` takes), plain
text carries sections and line ranges into citations, and reading commands load no model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag_fed.config import get_settings
from rag_fed.site import Site
from tests.conftest import SAMPLES
from tests.rag_fed.cli.conftest import run_cli
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.unit

LOG_NAME = "plant-north-maintenance-work-orders-2024-export.csv"
WORK_ORDERS = (
    "wo_id,date,asset,description\n"
    "WO-2024-000117,2024-01-03,CV-3,head pulley bearing running hot F-217\n"
    "WO-2024-000118,2024-02-11,PU-12A,gland leaking badly at the slurry pump\n"
)
PUMP_MANUAL = SAMPLES / "plant-north" / "manuals" / "sp150-slurry-pump.txt"


@pytest.fixture
def site(data_dir: Path, tmp_path: Path) -> str:
    corpus = tmp_path / "corpus"
    (corpus / "logs").mkdir(parents=True)
    (corpus / "logs" / LOG_NAME).write_text(WORK_ORDERS)
    (corpus / "manuals").mkdir()
    (corpus / "manuals" / PUMP_MANUAL.name).write_bytes(PUMP_MANUAL.read_bytes())
    settings = get_settings()
    Site.init("north", settings)
    with Site.open("north", settings, embedder=HashEmbedder("hash@1")) as node:
        assert not node.ingest([corpus]).failed
    return "north"


def test_ids_are_whole_at_80_columns_and_in_plain_output(site: str) -> None:
    ids = [f"logs/{LOG_NAME}/WO-2024-000117", f"logs/{LOG_NAME}/WO-2024-000118", f"manuals/{PUMP_MANUAL.name}"]
    listing = run_cli("docs", "list", "--site", site)
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    for doc_id in ids:
        assert any(line.startswith(doc_id + " ") for line in lines), f"{doc_id} not whole in:\n{listing.output}"
    assert "3 documents" in listing.output
    plain = run_cli("docs", "list", "--site", site, "--plain")
    assert plain.exit_code == 0, plain.output
    rows = [line.split("\t") for line in plain.output.splitlines()]
    assert rows[0] == ["doc_id", "kind", "chunks", "added_at", "title"]
    assert [row[0] for row in rows[1:]] == ids
    assert rows[3][4] == "SP-150 CENTRIFUGAL SLURRY PUMP - SERVICE INSTRUCTIONS"


def test_a_site_never_ingested_into_lists_no_documents(data_dir: Path) -> None:
    Site.init("empty", get_settings())
    listing = run_cli("docs", "list", "--site", "empty")
    assert listing.exit_code == 0, listing.output
    assert "0 documents" in listing.output and "ragfed ingest PATH --site empty" in listing.output
    assert run_cli("docs", "list", "--site", "nowhere").exit_code == 1


def test_text_passages_cite_their_section_and_lines(site: str) -> None:
    found = run_cli("search", "gland seal water pressure", "--site", site, "--mode", "keyword", "-k", "1")
    assert found.exit_code == 0, found.output
    assert f"[north:manuals/{PUMP_MANUAL.name}#" in found.output and " lines " in found.output
    with Site.open(site, get_settings(), read_only=True) as node:
        passages = node.search("gland seal water pressure", 5, "keyword")
    source = PUMP_MANUAL.read_text().splitlines()
    # The manual's headings are the lines underlined with dashes (a table header's rule has gaps).
    headings = {i: source[i] for i in range(len(source) - 1) if re.fullmatch(r"-{3,}", source[i + 1].strip())}
    for passage in passages:
        citation = passage.citation
        assert citation.lines is not None, citation
        first, last = citation.lines
        # The lines hold exactly the passage's text, and the nearest heading above them is its section.
        assert " ".join(passage.text.split()) in " ".join(" ".join(source[first - 1 : last]).split())
        assert headings[max(i for i in headings if i < first - 1)] == citation.section
    assert any(p.citation.section == "3. GLAND SEAL WATER" for p in passages)
