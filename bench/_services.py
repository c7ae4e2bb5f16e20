"""Starting real service processes on loopback for the benchmarks: sites and a gateway, each stopped
when the block ends, and the keys and registry that join them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]

__all__ = ["REPO", "free_port", "services", "site_service_spec"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def site_service_spec(name: str, site_id: str, data_dir: Path, gateway_key: Path) -> tuple[str, list[str]]:
    """A ``services`` spec for one site service process under ``passages`` egress (benchmarks score
    the passages' text)."""
    args = ["api.site_service", "--site", site_id, "--data-dir", str(data_dir), "--gateway-key", str(gateway_key)]
    return name, [*args, "--egress", "passages"]


@contextmanager
def services(
    specs: Sequence[tuple[str, list[str]]], log_dir: Path, env: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """Start ``python -m <args> --port P`` for each spec on loopback, wait for /health, always stop."""
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    procs, urls = [], []
    try:
        for name, args in specs:
            port = free_port()
            with (log_dir / f"{name}.log").open("wb") as log:
                cmd = [sys.executable, "-m", *args, "--port", str(port), "--log-level", "warning"]
                procs.append(subprocess.Popen(cmd, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 600
        for (name, _), proc, url in zip(specs, procs, urls, strict=True):
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {(log_dir / f'{name}.log').read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
