"""Run a training run on Flower's deployment engine: a SuperLink at the coordinator, a SuperNode per site.

:func:`run_on_superlink` prepares the run folder, writes the Flower App folder and a Flower CLI
configuration (``FLWR_HOME`` inside the run folder, so the operator's own ``~/.flwr`` is untouched)
that names the SuperLink, then submits the app with ``flwr run --stream`` and waits. The ServerApp
runs in the SuperLink's ``flwr-serverapp`` process and writes checkpoints and the ledger into the run
folder, so the SuperLink must run on this machine (or see the same folder). Rounds are reported by
watching the ledger. At the end the final weights are exported like a simulated run's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from rag_fed.config import TrainingSettings
from rag_fed.errors import TrainingError
from rag_fed.training.flower_app import write_flower_app
from rag_fed.training.ledger import Ledger
from rag_fed.training.run import RoundCallback, TrainingResult, export_model, prepare_run

__all__ = ["CONNECTION_NAME", "run_on_superlink", "write_flower_config"]

CONNECTION_NAME = "ragfed"
_CONFIG = """\
# Written by rag-fed: the SuperLink this run is submitted to.
[superlink]
default = "{name}"

[superlink.{name}]
address = "{address}"
{security}
"""


def write_flower_config(flwr_home: Path, address: str, *, root_certificates: Path | None = None) -> Path:
    """A Flower CLI ``config.toml`` whose default connection is ``address`` (TLS when a CA is given)."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    security = f'root-certificates = "{root_certificates}"' if root_certificates else "insecure = true"
    path = flwr_home / "config.toml"
    path.write_text(_CONFIG.format(name=CONNECTION_NAME, address=address, security=security), encoding="utf-8")
    return path


def run_on_superlink(
    config: TrainingSettings,
    run_dir: Path,
    superlink: str,
    *,
    root_certificates: Path | None = None,
    timeout_s: float | None = None,
    on_round: RoundCallback | None = None,
    log_path: Path | None = None,
) -> TrainingResult:
    """Train ``config.rounds`` rounds with the SuperNodes connected to ``superlink`` (host:port)."""
    run_dir = run_dir.resolve()
    model = prepare_run({}, config, run_dir)
    app_dir = write_flower_app(run_dir / "flower-app", run_dir, 1, config.rounds)
    flwr_home = run_dir / "flwr-home"
    write_flower_config(flwr_home, superlink, root_certificates=root_certificates)
    env = {
        **os.environ,
        "FLWR_HOME": str(flwr_home),
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "FLWR_TELEMETRY_ENABLED": "0",
    }
    command = [_flwr(), "run", str(app_dir), CONNECTION_NAME, "--stream"]
    log = (log_path or run_dir / "flwr-run.log").open("w", encoding="utf-8")
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_ledger, args=(run_dir, on_round, stop), daemon=True)
    watcher.start()
    try:
        completed = subprocess.run(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise TrainingError(f"the run did not finish within {timeout_s:.0f} s; see {log.name}") from error
    finally:
        stop.set()
        watcher.join()
        log.close()
    ledger = Ledger.open(run_dir)
    if completed.returncode != 0 or ledger.final_round() != config.rounds:
        raise TrainingError(
            f"`flwr run` ended with code {completed.returncode} after round {ledger.final_round()} of "
            f"{config.rounds}; see {run_dir / 'flwr-run.log'} and the SuperLink's log"
        )
    model_dir, version = export_model(run_dir, model=model)
    return TrainingResult(run_dir, model_dir, version, tuple(ledger.rounds), ledger.evaluation())


def _watch_ledger(run_dir: Path, on_round: RoundCallback | None, stop: threading.Event) -> None:
    seen = 0
    while True:
        finished = stop.wait(1.0)
        if on_round is not None:
            rounds = Ledger.open(run_dir).rounds
            for record in rounds[seen:]:
                on_round(record)
            seen = len(rounds)
        if finished:
            return


def _flwr() -> str:
    beside = Path(sys.executable).with_name("flwr")
    found = str(beside) if beside.is_file() else shutil.which("flwr")
    if found is None:
        raise TrainingError("the Flower CLI `flwr` is not installed: pip install rag-fed")
    return found
