"""docs/walkthrough.md is scripts/walkthrough.sh, and the script works: run as written, on loopback with
free ports and a temporary data dir, it ends with a cited answer from curl and from the openai client and
leaves no service running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.procs import free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "walkthrough.sh"
DOC = REPO / "docs" / "walkthrough.md"
TIMEOUT_S = 900


@pytest.mark.unit
def test_the_doc_embeds_the_script_verbatim() -> None:
    blocks = re.findall(r"^```bash\n(.*?)^```$", DOC.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert "".join(blocks) == SCRIPT.read_text(encoding="utf-8"), (
        "docs/walkthrough.md's bash blocks, joined, must be scripts/walkthrough.sh exactly"
    )


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run(tmp_path: Path, **extra: str) -> str:
    ports = {"GATEWAY_PORT": free_port(), "NORTH_PORT": free_port(), "SOUTH_PORT": free_port()}
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAGFED_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **{name: str(port) for name, port in ports.items()},
        **extra,
    }
    env.pop("RAGFED_CONFIG", None)
    process = subprocess.Popen(
        ["bash", str(SCRIPT)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the script and the services it started
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"the walkthrough took over {TIMEOUT_S} s:\n{output.decode(errors='replace')[-4000:]}")
    text = output.decode(errors="replace")
    logs = "".join(
        f"\n--- {log.name}\n{log.read_text(errors='replace')[-1500:]}" for log in (tmp_path / "data" / "logs").glob("*")
    )
    assert process.returncode == 0, text[-6000:] + logs
    assert not any(_listening(port) for port in ports.values()), "the script left a service running"
    return text


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("tls", ["0", "1"], ids=["http", "tls"])
def test_the_walkthrough_runs_and_ends_with_a_cited_answer(tmp_path: Path, tls: str) -> None:
    text = _run(tmp_path, TLS=tls)
    assert "gateway public key file:" in text
    assert ("https://127.0.0.1" in text) == (tls == "1")
    curl_answer = text.split("== 8. ask with curl", 1)[1].split("== 8. ask with the openai client", 1)[0]
    openai_answer = text.split("== 8. ask with the openai client", 1)[1]
    for answer in (curl_answer, openai_answer):
        assert re.search(r"\[plant-north:[^\]]+\]", answer), text[-4000:]
    assert "plant-north: answered" in openai_answer and "plant-south: answered" in openai_answer
    assert "stopped the services" in text
