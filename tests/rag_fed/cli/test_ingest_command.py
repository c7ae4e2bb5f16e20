"""``ragfed ingest`` reports every file on its own line, ends with a summary line, and exits 1 when any
file failed (a batch of 4 bad files in 5 used to exit 0)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag_fed.config import get_settings
from rag_fed.site import Site
from tests.rag_fed.cli.conftest import run_cli

pytestmark = pytest.mark.integration  # the packaged embedder embeds the good file

GOOD = "# Pump P-7\n\n## Seal\nReplace the mechanical seal kit MS-4471 when the gland drips.\n"
SUMMARY = re.compile(r"(\d+) ingested \((\d+) new, (\d+) updated\), (\d+) unchanged, (\d+) failed of (\d+) files?;")


@pytest.fixture
def batch(data_dir: Path, tmp_path: Path) -> list[Path]:
    Site.init("plant-1", get_settings())
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "pump.md").write_text(GOOD)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF body")
    (folder / "empty.txt").write_text("   \n\n")
    (folder / "image.txt").write_bytes(b"GIF89a\x00\x01\x02\x03")
    unsupported = tmp_path / "notes.xyz"
    unsupported.write_text("not a format we read")
    return [folder, unsupported]


def _file_lines(output: str) -> dict[str, str]:
    """status of each file line, by the file's name."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(added|updated|unchanged|failed)\s+(\S+)", line)
        if match:
            found[Path(match.group(2).rstrip(":")).name] = match.group(1)
    return found


def test_a_batch_with_failed_files_reports_each_and_exits_non_zero(batch: list[Path]) -> None:
    result = run_cli("ingest", *map(str, batch), "--site", "plant-1")
    assert result.exit_code == 1, result.output
    assert _file_lines(result.output) == {
        "pump.md": "added",
        "broken.pdf": "failed",
        "empty.txt": "failed",
        "image.txt": "failed",
        "notes.xyz": "failed",
    }, result.output
    summary = SUMMARY.search(" ".join(result.output.split()))
    assert summary is not None, result.output
    assert summary.groups() == ("1", "1", "0", "0", "4", "5")
    assert "pypdf could not read it" in result.output and "not supported" in result.output  # each failure says why

    again = run_cli("ingest", str(batch[0] / "pump.md"), "--site", "plant-1")
    assert again.exit_code == 0, again.output
    assert _file_lines(again.output) == {"pump.md": "unchanged"}
    summary = SUMMARY.search(" ".join(again.output.split()))
    assert summary is not None and summary.groups() == ("0", "0", "0", "1", "0", "1")


def test_nothing_to_ingest_is_an_error(data_dir: Path, tmp_path: Path) -> None:
    Site.init("plant-1", get_settings())
    (tmp_path / "empty-folder").mkdir()
    result = run_cli("ingest", str(tmp_path / "empty-folder"), "--site", "plant-1")
    assert result.exit_code == 1 and "nothing to ingest" in result.output
