"""How long real site services take to reply to sealed queries, which is what ``routing.deadline_s`` must fit.

The three sample plants (``rag_fed/samples/federation``: Markdown, HTML, text and PDF manuals and
work-order logs), plus, when ``../shared/datasets/emanual_s10`` is there, a fourth site holding the
Galaxy S10 manual (451 sections), are ingested with the packaged embedder and served as real site service
processes on loopback. The router asks all of them at once (as the gateway fans out) every sample
question, through ``HttpSiteClient`` with sealed envelopes, in three modes:

- ``retrieval``: ``want_answer=false``, the sites search and reply with passages;
- ``evidence``: ``want_answer=true``, the sites also cut evidence spans from their top passages (the
  gateway's default path: no model runs at a site);
- ``site-answer``: ``want_answer=true, phrase=true``, each site's packaged local model (SmolLM2-135M,
  llama.cpp, one thread) also writes a checked lead over its evidence before it replies (the gateway's
  ``site_answers = true``).

Each site's reply time is taken from the router's ``SiteOutcome.latency_ms`` (seal, HTTP, the site's work,
open). The deadline is set far out (600 s) so nothing is cut off.

    .venv/bin/python bench/site_latency.py [--questions 8] [--no-s10] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._services import services, site_service_spec  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.crypto import KeyPair  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.embedders.base import Embedder  # noqa: E402
from rag_fed.router import HttpSiteClient, Router, RoutingPolicy  # noqa: E402
from rag_fed.site import Site  # noqa: E402

SAMPLES = REPO / "rag_fed" / "samples" / "federation"
SAMPLE_SITES = ("plant-north", "plant-south", "plant-east")
S10 = REPO.parent / "shared" / "datasets" / "emanual_s10" / "beir" / "corpus.jsonl"


def _write_s10(folder: Path) -> Path:
    """The S10 manual as one Markdown file, one section per corpus entry (a long real manual)."""
    lines = ["# Samsung Galaxy S10 user manual", ""]
    with S10.open(encoding="utf-8") as corpus:
        for line in corpus:
            entry = json.loads(line)
            lines += [f"## {entry.get('title') or entry['_id']}", "", entry["text"], ""]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s10-manual.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return folder


def prepare(data_dir: Path, embedder: Embedder, with_s10: bool) -> dict[str, KeyPair]:
    settings = Settings(data_dir=data_dir)
    sources = {site_id: SAMPLES / site_id for site_id in SAMPLE_SITES}
    if with_s10 and S10.exists():
        sources["s10"] = _write_s10(data_dir.parent / "s10-source")
    keys = {}
    for site_id, source in sources.items():
        Site.init(site_id, settings)
        with Site.open(site_id, settings, embedder=embedder) as site:
            report = site.ingest([source])
            print(f"  {site_id}: {site.chunk_count} chunks from {len(report.files)} files", flush=True)
        keys[site_id] = KeyPair.load(data_dir / site_id / "keys")
    return keys


@contextmanager
def site_services(data_dir: Path, site_ids: Sequence[str], gateway_key: Path) -> Iterator[dict[str, str]]:
    """One real site service per site on loopback (``bench/_services.py``), as ``site id -> URL``."""
    specs = [site_service_spec(site_id, site_id, data_dir, gateway_key) for site_id in site_ids]
    with services(specs, data_dir) as urls:
        yield dict(zip(site_ids, urls, strict=True))


async def measure(
    router: Router, embedder: Embedder, questions: Sequence[str], want_answer: bool, phrase: bool
) -> tuple[dict[str, list[float]], list[float]]:
    """Per site reply times (ms) and each query's slowest site (ms, what a deadline must cover)."""
    per_site: dict[str, list[float]] = {}
    slowest: list[float] = []
    version = embedder.model_version
    for question in questions:
        vector = embedder.embed([question])[0]
        result = await router.query(
            question, vector, version, k=5, mode="hybrid", want_answer=want_answer, phrase=phrase
        )
        failed = [f"{s.site_id}: {s.status} {s.error}" for s in result.sites if s.status != "answered"]
        if failed:
            raise RuntimeError(f"sites did not answer {question!r}: {failed}")
        for site in result.sites:
            per_site.setdefault(site.site_id, []).append(site.latency_ms)
        slowest.append(max(site.latency_ms for site in result.sites))
    return per_site, slowest


def _stats(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(array, 50)), 1),
        "p95_ms": round(float(np.percentile(array, 95)), 1),
        "max_ms": round(float(array.max()), 1),
    }


async def run(
    urls: dict[str, str], keys: dict[str, KeyPair], gateway: KeyPair, embedder: Embedder, n: int
) -> dict[str, Any]:
    questions = [json.loads(line)["question"] for line in (SAMPLES / "questions.jsonl").read_text().splitlines()][:n]
    clients = [HttpSiteClient(site_id, url) for site_id, url in urls.items()]
    router = Router(
        keys=gateway,
        gateway_id="gateway",
        site_keys={site_id: pair.public_key for site_id, pair in keys.items()},
        clients=clients,
        policy=RoutingPolicy(deadline_s=600),
    )
    report: dict[str, Any] = {}
    try:
        await measure(router, embedder, questions[:1], True, True)  # warm-up: connections, models, caches
        for mode, want_answer, phrase in (
            ("retrieval", False, False),
            ("evidence", True, False),
            ("site-answer", True, True),
        ):
            started = time.perf_counter()
            per_site, slowest = await measure(router, embedder, questions, want_answer, phrase)
            report[mode] = {
                "questions": len(questions),
                "sites": {site_id: _stats(times) for site_id, times in sorted(per_site.items())},
                "slowest_site_per_query": _stats(slowest),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps({mode: report[mode]}, indent=2), flush=True)
    finally:
        for client in clients:
            await client.aclose()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8, help="sample questions per mode")
    parser.add_argument("--no-s10", action="store_true", help="only the three sample plants")
    parser.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = parser.parse_args()
    embedder = load_embedder(Settings().embedder)
    with tempfile.TemporaryDirectory(prefix="ragfed-latency-") as tmp:
        data_dir = Path(tmp) / "data"
        print(f"machine: {os.cpu_count()} cores; ingesting", flush=True)
        keys = prepare(data_dir, embedder, with_s10=not args.no_s10)
        gateway = KeyPair.generate()
        gateway.save(Path(tmp) / "gateway-keys")
        with site_services(data_dir, list(keys), Path(tmp) / "gateway-keys" / "public.key") as urls:
            report = asyncio.run(run(urls, keys, gateway, embedder, args.questions))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
