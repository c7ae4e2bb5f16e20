"""``ragfed demo`` end to end: sample sites and a gateway as processes, one question, a clean stop."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.procs import REPO, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The demo command as `ragfed demo` runs it, without depending on how main.py wires the sub-commands.
RUN_DEMO = (
    "import typer\n"
    "from api.cli import demo\n"
    "app = typer.Typer()\n"
    "app.callback()(lambda: None)\n"
    "demo.register(app)\n"
    "app()\n"
)


def _demo(data_dir: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_DEMO, "demo", "--data-dir", str(data_dir), *flags],
        cwd=REPO,
        env=service_env(COLUMNS="200"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ports(output: str) -> list[int]:
    return [int(port) for port in re.findall(r"ready at http://127\.0\.0\.1:(\d+)", output)]


def _closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


def test_demo_no_wait_answers_one_question_and_stops(data_dir: Path) -> None:
    demo = _demo(data_dir, "--no-wait")
    try:
        output, _ = demo.communicate(timeout=1200)
    finally:
        demo.kill()
    assert demo.returncode == 0, output
    ports = _ports(output)
    assert len(ports) == 4, output
    assert "Engineer API key rfk_" in output and "curl -s http://127.0.0.1:" in output
    assert "from openai import OpenAI" in output
    answer = output.split("Answer", 1)[1]
    for site in ("plant-north", "plant-south", "plant-east"):
        assert f"{site}: answered" in answer, output
    assert "all demo processes stopped" in output
    assert all(_closed(port) for port in ports)


def test_demo_stops_everything_on_sigterm(data_dir: Path) -> None:
    demo = _demo(data_dir)  # the sites are already ingested: this run only starts and stops
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C to stop" in line:
                break
        assert any("Press Ctrl-C" in line for line in lines), "".join(lines)
        assert "(0 new)" in "".join(lines), "a second run must not ingest the samples again"
        demo.send_signal(signal.SIGTERM)
        rest, _ = demo.communicate(timeout=120)
    finally:
        demo.kill()
    output = "".join(lines) + rest
    assert demo.returncode == 0, output
    assert "all demo processes stopped" in output
    assert all(_closed(port) for port in _ports(output))
