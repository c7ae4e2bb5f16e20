"""Real service processes on loopback for the integration tests: start, wait for health, always stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["REPO", "Service", "free_port", "service_env", "start_service", "wait_healthy", "wait_up"]

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": str(REPO),
            # Short leads: the tests check the plumbing, not the prose of a 135M model.
            "RAGFED_ANSWERS__LEAD_MAX_TOKENS": "40",
            "RAGFED_GENERATOR__THREADS": "1",
            **extra,
        }
    )
    return env


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # in case a test paused it
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def start_service(name: str, args: list[str], port: int, log_dir: Path, env: dict[str, str]) -> Service:
    """Start ``python -m <args>`` with its output in ``log_dir/<name>.log``."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Service(name, process, port, log)


def wait_up(url: str, timeout_s: float = 60) -> None:
    """Wait until ``url`` answers 200: a server run in this process (uvicorn in a thread), not a ``Service``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout_s} s")


def wait_healthy(services: list[Service], timeout_s: float = 240.0) -> None:
    """Wait until every service answers ``GET /health``; stop them all and fail if one does not."""
    deadline = time.monotonic() + timeout_s
    pending = list(services)
    while pending and time.monotonic() < deadline:
        for service in list(pending):
            if service.process.poll() is not None:
                for other in services:
                    other.stop()
                raise RuntimeError(f"{service.name} exited early:\n{service.tail()}")
            try:
                if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                    pending.remove(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    if pending:
        for service in services:
            service.stop()
        raise RuntimeError(f"not healthy in {timeout_s:.0f} s: {[s.name for s in pending]}\n{pending[0].tail()}")
