"""bench/cli_startup.py still runs and reports each command beside the interpreter's own start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration  # it ingests the sample plant with the packaged embedder first


def test_the_startup_benchmark_reports_commands_beside_python(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    command = [sys.executable, str(REPO / "bench" / "cli_startup.py"), "--repeat", "1", "--only", "help,docs-list"]
    done = subprocess.run([*command, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["command"]: row for row in json.loads(out.read_text())["results"]}
    assert set(rows) == {"python -c pass", "help", "docs-list"}
    assert rows["python -c pass"]["ratio"] == 1.0
    assert all(row["median_s"] > 0 and row["ratio"] > 0 for row in rows.values())
    assert "x python" in done.stdout
