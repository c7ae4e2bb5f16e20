"""CLI start-up benchmark: wall time of ``ragfed`` commands, each run N times in a fresh process, beside
``python -c pass`` measured in the same run (the interpreter's own start, the floor of any command).

A scratch data dir gets one site (the plant-north sample, ingested before timing starts) and a gateway
home, so the commands find something to read. Commands that need no model must start in under 2 s
(issue 13); the dense search and ``ask`` rows load the embedder and the local model and are there to
show what a model costs, not to meet that bound.

    .venv/bin/python bench/cli_startup.py [--repeat 5] [--only help,docs-list] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "rag_fed" / "samples" / "federation" / "plant-north"
SITE = "bench"
BOUND_S = 2.0


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...]
    needs_model: bool = False


def commands(home: Path) -> list[Command]:
    gateway = ("--home", str(home))
    return [
        Command("help", ("--help",)),
        Command("docs-list", ("docs", "list", "--site", SITE)),
        Command("site-list", ("site", "list")),
        Command("keys-list", ("keys", "list", *gateway)),
        Command("federation-list", ("federation", "list", *gateway)),
        Command("model-help", ("model", "--help")),
        Command("search-keyword", ("search", "gland seal water", "--site", SITE, "--mode", "keyword")),
        Command("search-dense", ("search", "gland seal water", "--site", SITE, "--mode", "dense"), needs_model=True),
    ]


def ragfed() -> list[str]:
    """The installed ``ragfed`` script beside this interpreter, else the same app through ``python -c``."""
    script = Path(sys.executable).with_name("ragfed")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from rag_fed.cli.main import app; app()"]


def run_once(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}")
    return elapsed


def prepare(data_dir: Path, home: Path, env: dict[str, str]) -> None:
    """One site with the sample plant ingested, and an empty gateway home (not timed)."""
    base = ragfed()
    subprocess.run([*base, "site", "init", SITE], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*base, "ingest", str(SAMPLE), "--site", SITE], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*base, "keys", "list", "--home", str(home)], env=env, check=True, stdout=subprocess.DEVNULL)


def verdict(command: Command, median_s: float) -> str:
    if command.needs_model:
        return "(loads a model)"
    return "ok" if median_s < BOUND_S else f"OVER {BOUND_S:g} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per command (median reported)")
    parser.add_argument("--only", help="comma-separated command names (default: all)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ragfed-startup-") as scratch:
        data_dir, home = Path(scratch) / "data", Path(scratch) / "gateway"
        env = {**os.environ, "RAGFED_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), "COLUMNS": "80"}
        chosen = commands(home)
        if args.only:
            wanted = set(args.only.split(","))
            chosen = [command for command in chosen if command.name in wanted]
        print(f"preparing a site under {data_dir} (sample plant-north, not timed) ...", flush=True)
        prepare(data_dir, home, env)
        run_once([*ragfed(), "--help"], env)  # warm the page cache before anything is timed
        rows: dict[str, list[float]] = {"python -c pass": []}
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every command alike
            rows["python -c pass"].append(run_once([sys.executable, "-c", "pass"], env))
            for command in chosen:
                rows.setdefault(command.name, []).append(run_once([*ragfed(), *command.args], env))

    baseline = statistics.median(rows["python -c pass"])
    print(f"\n{'command':<18} {'median s':>9} {'min s':>7} {'x python':>9}  bound")
    results = []
    for name, times in rows.items():
        median = statistics.median(times)
        measured = next((c for c in chosen if c.name == name), None)
        bound = "" if measured is None else verdict(measured, median)
        print(f"{name:<18} {median:>9.3f} {min(times):>7.3f} {median / baseline:>9.1f}  {bound}")
        results.append({"command": name, "median_s": median, "min_s": min(times), "ratio": median / baseline})
    machine = f"{sys.platform}, {os.cpu_count()} cores, python {sys.version.split()[0]}"
    print(f"\n{args.repeat} runs each, fresh processes; {machine}")
    if args.json is not None:
        args.json.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
