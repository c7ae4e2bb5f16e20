"""Commands that need no model start without importing one: ``ragfed --help``, ``docs list`` and keyword
``search`` run in a fresh interpreter and must leave torch, sentence-transformers, llama.cpp and Flower
(and FAISS, FastAPI, matplotlib for ``--help``) out of ``sys.modules``. bench/cli_startup.py times them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag_fed.config import get_settings
from rag_fed.site import Site
from tests.conftest import REPO
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.unit

MODELS = ("torch", "sentence_transformers", "transformers", "llama_cpp", "flwr", "ray")
SERVICES = ("faiss", "fastapi", "uvicorn", "matplotlib", "bs4", "pypdf")
_PROBE = """
import json, sys
from rag_fed.cli.main import app
try:
    app(sys.argv[1:], prog_name="ragfed")
except SystemExit as done:
    code = done.code
print("\\nMODULES " + json.dumps(sorted(name for name in sys.modules if "." not in name)))
print("EXIT " + json.dumps(code))
"""


def _imported_by(*args: str, data_dir: Path) -> tuple[set[str], object, str]:
    env = {**os.environ, "RAGFED_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    lines = done.stdout.splitlines()
    modules = next(line for line in lines if line.startswith("MODULES "))
    code = next(line for line in lines if line.startswith("EXIT "))
    return set(json.loads(modules.removeprefix("MODULES "))), json.loads(code.removeprefix("EXIT ")), done.stdout


def test_help_imports_no_model_and_no_service_library(tmp_path: Path) -> None:
    modules, code, output = _imported_by("--help", data_dir=tmp_path)
    assert code == 0 and "docs" in output
    assert not modules & {*MODELS, *SERVICES}


@pytest.mark.parametrize(
    "command", [("docs", "list", "--site", "north"), ("search", "gland", "--site", "north", "-m", "keyword")]
)
def test_reading_a_site_without_a_query_vector_loads_no_model(data_dir: Path, command: tuple[str, ...]) -> None:
    settings = get_settings()
    Site.init("north", settings)
    manual = data_dir.parent / "pump.md"
    manual.write_text("# Pump\n\n## Gland\nThe gland must drip 30 to 60 drops per minute.\n")
    with Site.open("north", settings, embedder=HashEmbedder("hash@1")) as node:
        assert not node.ingest([manual]).failed
    modules, code, output = _imported_by(*command, data_dir=data_dir)
    assert code in (0, None), output
    assert "pump.md" in output
    assert not modules & set(MODELS)
