"""How many answers should the gateway admit at once? A load sweep on real processes, then the bound.

The three sample plants are served as real site services behind two real gateways on loopback:

1. **Unbounded** (``answers_per_caller = answers_in_flight = 64``): for each concurrency ``c`` in
   ``--levels``, ``c`` clients, each with an API key of its own, send ``--per-client`` chat requests each.
   Printed per level: throughput, p50 and p95. The **knee** is the smallest ``c`` whose throughput is
   within ``--within`` (10%) of the best level's: past it, more answers at once add only waiting, and
   every admitted answer gets slower for all. That ``c`` is the suggested ``answers_in_flight``.
2. **Bounded** (the shipped defaults, or ``--share PER_CALLER,TOTAL``): ``--burst`` clients on as many
   keys, then ``--burst`` clients on one key (one engineer's burst), at the same request count. Printed:
   statuses, p95 of the answered and of the refused, and the answered p95 as a ratio of the unbounded
   gateway's at the same concurrency, measured in this run.

``--site-answers``: both gateways ask every site's own model to phrase (``site_answers = true``), the
path where each answer runs a model at each site as well as at the gateway.

    .venv/bin/python bench/admission.py [--levels 1,2,4,8,12,16,20] [--per-client 4] [--burst 20]
        [--share 2,8] [--site-answers] [--out admission.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._services import Federation, federation  # noqa: E402
from bench.soak import SITES, request_body, soak  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.samples import federation_dir  # noqa: E402
from rag_fed.site import Site  # noqa: E402

UNBOUNDED = "answers_per_caller = 64\nanswers_in_flight = 64"


def warm(running: Federation, clients: int) -> None:
    with httpx.Client(base_url=running.gateway_url, headers={"Authorization": f"Bearer {running.key}"}) as http:
        for _ in range(clients):
            route, body = request_body("chat", "warm-up: what is the pump?")
            http.post(route, json=body, timeout=300).raise_for_status()


def run(running: Federation, keys: list[str], clients: int, per_client: int) -> dict[str, object]:
    report = soak(running.gateway_url, keys, running.pids, clients * per_client, clients, "chat")
    return {k: report[k] for k in ("clients", "throughput_per_s", "statuses", "p50_ms", "p95_ms", "p95_ms_by_status")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,2,4,8,12,16,20")
    parser.add_argument("--per-client", type=int, default=4)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--within", type=float, default=0.10)
    parser.add_argument("--share", default=None, help="PER_CALLER,TOTAL for the bounded gateway (default: shipped)")
    parser.add_argument("--site-answers", action="store_true", help="every site's model phrases (site_answers)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    bounded = ""
    if args.share:
        per_caller, total = args.share.split(",")
        bounded = f"answers_per_caller = {int(per_caller)}\nanswers_in_flight = {int(total)}"
    if args.site_answers:
        bounded += "\nsite_answers = true"
    unbounded = UNBOUNDED + ("\nsite_answers = true" if args.site_answers else "")
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="ragfed-admission-") as scratch:
        root = Path(scratch)
        settings = Settings(data_dir=root / "data")
        embedder = load_embedder(settings.embedder)
        for site_id in SITES:
            Site.init(site_id, settings)
            with Site.open(site_id, settings, embedder=embedder) as site:
                site.ingest([federation_dir() / site_id])
        site_dirs = dict.fromkeys(SITES, root / "data")
        sweep: list[dict[str, object]] = []
        with federation("unbounded", site_dirs, root, role="engineer", config_lines=unbounded) as running:
            warm(running, 2)
            keys = [running.key, *(running.new_key() for _ in range(max(*levels, args.burst) - 1))]
            for clients in levels:
                sweep.append(run(running, keys[:clients], clients, args.per_client))
                print(json.dumps(sweep[-1]), flush=True)
            at_burst = run(running, keys[: args.burst], args.burst, args.per_client)
        best = max(float(str(level["throughput_per_s"])) for level in sweep)
        knee = next(level for level in sweep if float(str(level["throughput_per_s"])) >= (1 - args.within) * best)
        print(f"knee: {knee['clients']} answers at once reach {knee['throughput_per_s']}/s of the best {best}/s")
        print(f"unbounded, {args.burst} clients: {json.dumps(at_burst)}")
        with federation("bounded", site_dirs, root, role="engineer", config_lines=bounded) as running:
            warm(running, 2)
            keys = [running.key, *(running.new_key() for _ in range(args.burst - 1))]
            many = run(running, keys, args.burst, args.per_client)
            one = run(running, keys[:1], args.burst, args.per_client)
        unbounded_p95 = float(str(at_burst["p95_ms"]))
        for name, report in (("many callers", many), ("one caller", one)):
            answered = report["p95_ms_by_status"]
            assert isinstance(answered, dict)
            ratio = answered.get("200", float("nan")) / unbounded_p95
            print(f"bounded, {args.burst} clients, {name}: {json.dumps(report)}")
            print(f"  answered p95 / unbounded p95 at {args.burst} clients: {ratio:.2f}")
        out = {"sweep": sweep, "knee": knee, "unbounded_burst": at_burst, "bounded_many": many, "bounded_one": one}
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
