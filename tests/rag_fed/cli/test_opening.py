"""What a writing command says when a site service holds the site: the service's own address when its
command line tells it, the default otherwise, and always how to stop it instead."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_fed.cli.opening import SERVICE_URL, busy_message, service_url

pytestmark = pytest.mark.unit


@pytest.fixture
def fake_service() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line reads like a site service's (it only sleeps)."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "-m", "api.site_service", "--site", "north"]
    process = subprocess.Popen([*argv, "--host", "0.0.0.0", "--port", "9123", "--tls-cert", "site.crt"])
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while cmdline.exists() and not cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # just after exec the kernel may show an empty command line for a moment
    yield process
    process.kill()
    process.wait()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the address is read from /proc/<pid>/cmdline")
def test_the_message_gives_the_services_own_address(fake_service: subprocess.Popen[bytes]) -> None:
    pid = str(fake_service.pid)
    assert service_url(pid) == "https://127.0.0.1:9123"
    message = busy_message("north", pid, "delete", "logs/orders.csv/WO 7")
    assert (
        "curl -X DELETE -H 'Authorization: Bearer <key>' https://127.0.0.1:9123/v1/admin/documents/logs/orders.csv/WO%207"
        in message
    )
    assert f"kill {pid}" in message and SERVICE_URL not in message


def test_without_an_address_the_message_gives_the_default_and_says_so() -> None:
    assert service_url(str(os.getpid())) is None  # pytest is not a site service
    message = busy_message("north", "unknown (pid not written yet)", "ingest", "manuals/pump guide.pdf")
    assert f"-F file=@'manuals/pump guide.pdf' {SERVICE_URL}/v1/admin/documents" in message
    assert "unless it was started with --host/--port" in message
    assert "ragfed keys create --role site-admin --site north" in message and "run this command again" in message
    assert "docs list` work while it runs" in busy_message("north", "42", "index")
