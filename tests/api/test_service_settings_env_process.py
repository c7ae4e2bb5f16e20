"""A service started with a bad RAGFED_GATEWAY__* / RAGFED_SITE__* variable stops at once, naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.procs import REPO, free_port, service_env

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("module", "flags", "variable", "value"),
    [
        ("api.gateway", [], "RAGFED_GATEWAY__ROUTING__DEADLINE_S", "soon"),
        ("api.site_service", ["--site", "plant-a"], "RAGFED_SITE__EGRESS", "everything"),
    ],
)
def test_a_service_process_refuses_to_start_on_a_bad_variable(
    tmp_path: Path, module: str, flags: list[str], variable: str, value: str
) -> None:
    # The real way in: the service's own __main__ reads the variable before it opens anything.
    env = service_env(RAGFED_DATA_DIR=str(tmp_path), **{variable: value})
    done = subprocess.run(
        [sys.executable, "-m", module, *flags, "--port", str(free_port())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"(from {variable})" in done.stderr
