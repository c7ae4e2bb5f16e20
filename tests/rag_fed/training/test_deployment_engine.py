"""Flower's deployment engine on loopback: a real SuperLink, two real SuperNodes (one per site), our
apps submitted with ``flwr run``, and a new embedder version at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag_fed.config import TrainingSettings
from rag_fed.federation.models import ModelRegistry
from rag_fed.training.deployment import run_on_superlink
from rag_fed.training.ledger import Ledger
from rag_fed.training.pairs import save_pairs
from tests.rag_fed.training.conftest import synthetic_pairs

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the SuperLink exited: {log.read_text()[-2000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"the SuperLink did not listen on {port}: {log.read_text()[-2000:]}")


@pytest.fixture()
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_superlink_and_two_supernodes_train_a_new_model_version(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # flwr-serverapp / flwr-clientapp
        "FLWR_HOME": str(tmp_path / "flwr-home"),
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "FLWR_TELEMETRY_ENABLED": "0",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    port = _free_port()
    link_log = tmp_path / "superlink.log"
    processes.append(
        subprocess.Popen(
            [str(BIN / "flower-superlink"), "--insecure", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=link_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
    )
    _wait_for_port(port, processes[0], link_log)
    for offset, site in enumerate(["plant-a", "plant-b"]):
        # Each site's pairs live in its own folder; only the SuperNode there knows the path.
        pairs = save_pairs(tmp_path / site / "training" / "pairs.jsonl", synthetic_pairs(offset, 24))
        node_config = f'site-id="{site}" pairs-path="{pairs}"'
        command = [str(BIN / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{port}"]
        command += ["--port", str(_free_port()), "--node-config", node_config]
        log = (tmp_path / f"supernode-{site}.log").open("wb")
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))

    config = TrainingSettings(
        rounds=1,
        min_sites=2,
        max_seq_length=32,
        train_top_layers=1,
        batch_size=8,
        learning_rate=5e-4,
        round_timeout_s=600,
    )
    seen: list[int] = []
    try:
        result = run_on_superlink(
            config, tmp_path / "run", f"127.0.0.1:{port}", timeout_s=900, on_round=lambda r: seen.append(r.round)
        )
    except Exception:
        for log_file in [*sorted(tmp_path.glob("*.log")), tmp_path / "run" / "flwr-run.log"]:
            if log_file.is_file():
                print(f"--- {log_file.name}\n{log_file.read_text(errors='replace')[-3000:]}")
        raise
    [record] = Ledger.open(result.run_dir).rounds
    assert record.sites == ["plant-a", "plant-b"] and record.aggregated
    assert seen == [1]
    assert set(result.evaluation) == {"plant-a", "plant-b"}
    entry = ModelRegistry(tmp_path / "models").register(result.model_dir, source="deployment engine test")
    assert entry.version == result.version != ModelRegistry(tmp_path / "models").packaged().version
    assert entry.version in [e.version for e in ModelRegistry(tmp_path / "models").entries()]
