"""A bounded soak of the answer path on real processes: does anything grow, fail or slow down?

The three sample plants are ingested and served as real site services behind a real gateway on
loopback. ``--clients`` threads, each with its own HTTP connection, send ``--requests`` chat requests
in all over ``--keys`` API keys (the sample questions in turn, default strategy, not streamed;
``--path query`` sends ``POST /v1/query`` instead) and stop by themselves. After a warm-up of one
request per client, the resident set size (VmRSS) of every process is read at every thousandth
request. Printed: errors by status, latency p50/p95/p99 over all requests and per thousand, and RSS
per process at each mark, with the gateway's growth between the second and the last thousand (issue
goal: under 5% between the second and tenth thousand).

    .venv/bin/python bench/soak.py [--requests 10000] [--clients 8] [--keys 8] [--path chat|query] [--out soak.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._services import federation  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.samples import federation_dir, load_questions  # noqa: E402
from rag_fed.site import Site  # noqa: E402

SITES = ("plant-north", "plant-south", "plant-east")
MARK = 1000


def rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def request_body(path: str, question: str) -> tuple[str, dict[str, object]]:
    if path == "query":
        return "/v1/query", {"question": question, "k": 5}
    return "/v1/chat/completions", {"model": "rag-fed", "messages": [{"role": "user", "content": question}]}


def soak(url: str, keys: Sequence[str], pids: list[int], requests: int, clients: int, path: str) -> dict[str, object]:
    """``clients`` threads send ``requests`` in all; client ``i`` uses ``keys[i % len(keys)]`` (one caller
    or many)."""
    questions = [q.question for q in load_questions()]
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[tuple[int, float]] = []
    by_status: dict[str, list[float]] = {}
    statuses: Counter[str] = Counter()
    marks: dict[int, list[float]] = {0: [rss_mib(pid) for pid in pids]}

    def worker(key: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as http:
            while (index := next(counter)) < requests:
                route, body = request_body(path, questions[index % len(questions)])
                started = time.perf_counter()
                try:
                    status = str(http.post(route, json=body).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append((index, elapsed))
                    statuses[status] += 1
                    by_status.setdefault(status, []).append(elapsed * 1000)
                    done = len(latencies)
                    if done % MARK == 0:
                        marks[done] = [rss_mib(pid) for pid in pids]
                        print(f"  {done} requests, RSS MiB {[round(m) for m in marks[done]]}", flush=True)

    threads = [threading.Thread(target=worker, args=(keys[i % len(keys)],)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ordered = np.array([seconds for _, seconds in sorted(latencies)]) * 1000
    per_mark = {
        f"{start + 1}-{start + MARK}": round(float(np.percentile(ordered[start : start + MARK], 50)), 1)
        for start in range(0, len(ordered), MARK)
    }
    gateway = {mark: values[0] for mark, values in marks.items()}
    second, last = (2 * MARK, max(gateway)) if 2 * MARK in gateway else (min(gateway), max(gateway))
    return {
        "requests": requests,
        "clients": clients,
        "path": path,
        "wall_s": round(wall, 1),
        "throughput_per_s": round(requests / wall, 1),
        "statuses": dict(statuses),
        "p50_ms": round(float(np.percentile(ordered, 50)), 1),
        "p95_ms": round(float(np.percentile(ordered, 95)), 1),
        "p99_ms": round(float(np.percentile(ordered, 99)), 1),
        "p95_ms_by_status": {k: round(float(np.percentile(v, 95)), 1) for k, v in sorted(by_status.items())},
        "p50_ms_per_thousand": per_mark,
        "rss_mib": {str(mark): [round(value, 1) for value in values] for mark, values in sorted(marks.items())},
        "processes": ["gateway", *SITES],
        "gateway_growth": {"from": second, "to": last, "ratio": round(gateway[last] / gateway[second] - 1, 4)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--path", choices=("chat", "query"), default="chat")
    parser.add_argument("--keys", type=int, default=8, help="API keys the clients share (callers)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ragfed-soak-") as scratch:
        root = Path(scratch)
        settings = Settings(data_dir=root / "data")
        embedder = load_embedder(settings.embedder)
        for site_id in SITES:
            Site.init(site_id, settings)
            with Site.open(site_id, settings, embedder=embedder) as site:
                site.ingest([federation_dir() / site_id])
        print(f"serving {len(SITES)} sites and a gateway; {args.requests} requests at {args.clients} clients")
        with federation("soak", dict.fromkeys(SITES, root / "data"), root, role="engineer") as running:
            with httpx.Client(base_url=running.gateway_url, headers={"Authorization": f"Bearer {running.key}"}) as http:
                for _ in range(args.clients):  # warm-up: models loaded, connections open
                    route, body = request_body(args.path, "warm-up: what is the pump?")
                    http.post(route, json=body, timeout=120).raise_for_status()
            keys = [running.key, *(running.new_key() for _ in range(args.keys - 1))]
            report = soak(running.gateway_url, keys, running.pids, args.requests, args.clients, args.path)
    growth = report["gateway_growth"]
    assert isinstance(growth, dict)
    print(json.dumps({key: value for key, value in report.items() if key != "p50_ms_per_thousand"}, indent=1))
    print(f"p50 ms per thousand: {report['p50_ms_per_thousand']}")
    print(
        f"gateway RSS growth between request {growth['from']} and {growth['to']}: {100 * growth['ratio']:+.1f}% "
        "(goal: under +5%)"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
