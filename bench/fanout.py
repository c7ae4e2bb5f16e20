"""What the gateway's sealed fan-out costs as sites are added, and where each millisecond goes.

Cranfield (../shared/datasets, BEIR layout) is split by topic over 10 sites (``eval.splits`` ``cluster:10``,
seed 0) and each site is served by its own real site service process on loopback. The router asks the
first 1, 3 and 10 of them (dense retrieval, 30 chunks, ``want_answer=false``) through ``HttpSiteClient``
on the gateway's one pooled client, one question at a time, in one run:

- ``sealed HTTP @N``: ``Router.query`` end to end, p50/p95; the bench process's CPU time per query and per
  site (this process plays the gateway); bytes of sealed envelopes per query;
- ``HTTP floor @N``: ``GET /health`` of the same N sites at once on the same client: what plain HTTP to N
  FastAPI processes costs here, with no sealing, search or JSON;
- baseline: ``sealed HTTP @1`` (one site), so ``@3`` and ``@10`` read as multiples of one site's cost.

Then, at 10 sites, the same questions taken apart (the router's steps, done one by one and timed):
``seal`` (10 queries serialised and sealed), ``HTTP`` (the 10 sealed calls at once: network, the sites'
web stack and their work), of which ``site search`` (the slowest site's own search time, from its reply),
``decode`` (10 replies opened and parsed), ``merge`` (the global top 30).

    .venv/bin/python bench/fanout.py [--queries 60] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._services import services, site_service_spec  # noqa: E402
from eval.datasets import load_beir  # noqa: E402
from eval.site_systems import build_sites  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.crypto import EnvelopeOpener, KeyPair, seal  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.protocol import SiteQuery, SiteReply  # noqa: E402
from rag_fed.router import HttpSiteClient, Router, RoutingPolicy  # noqa: E402
from rag_fed.router.clients import site_http_client  # noqa: E402
from rag_fed.router.merge import merge_passages  # noqa: E402
from rag_fed.router.term_stats import with_candidates  # noqa: E402

K = 30
SITES = 10
WARMUP = 3
Vector = NDArray[np.float32]


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


async def sealed_http(
    router: Router, version: str, vectors: Sequence[tuple[str, Vector]], n_sites: int
) -> dict[str, float]:
    """``Router.query`` end to end over ``n_sites``: latency, CPU of this process, bytes."""
    for text, vector in vectors[:WARMUP]:
        await router.query(text, vector, version, k=K, mode="dense", want_answer=False)
    times, sizes = [], []
    cpu_started = time.process_time()
    for text, vector in vectors:
        started = time.perf_counter()
        result = await router.query(text, vector, version, k=K, mode="dense", want_answer=False)
        times.append((time.perf_counter() - started) * 1000)
        sizes.append(result.bytes_total)
        assert all(site.status == "answered" for site in result.sites), [site.error for site in result.sites]
    cpu_ms = (time.process_time() - cpu_started) * 1000 / len(vectors)
    return {
        **_percentiles(times),
        "cpu_ms_per_query": cpu_ms,
        "cpu_ms_per_site": cpu_ms / n_sites,
        "bytes_per_query": float(np.mean(sizes)),
    }


async def http_floor(http: httpx.AsyncClient, urls: Sequence[str], rounds: int) -> dict[str, float]:
    """Concurrent ``GET /health`` of ``urls``: the cost of plain HTTP to that many site processes."""
    times = []
    for index in range(rounds + WARMUP):
        started = time.perf_counter()
        responses = await asyncio.gather(*(http.get(f"{url}/health") for url in urls))
        if index >= WARMUP:
            times.append((time.perf_counter() - started) * 1000)
        assert all(response.status_code == 200 for response in responses)
    return _percentiles(times)


async def breakdown(
    clients: Sequence[HttpSiteClient],
    gateway: KeyPair,
    site_keys: dict[str, KeyPair],
    version: str,
    vectors: Sequence[tuple[str, Vector]],
) -> dict[str, float]:
    """The router's steps for ``clients``, one by one: mean milliseconds per query of each."""
    opener = EnvelopeOpener(gateway, "gateway", {sid: pair.public_key for sid, pair in site_keys.items()})
    steps: dict[str, list[float]] = {"seal": [], "http": [], "site search": [], "decode": [], "merge": []}
    for index, (text, vector) in enumerate([*vectors[:WARMUP], *vectors]):
        query = SiteQuery(
            question=text, embedding=vector, k=K, embedder_version=version, mode="dense", want_answer=False
        )
        started = time.perf_counter()
        sealed = [
            seal(
                query.to_bytes(),
                sender=gateway,
                sender_id="gateway",
                recipient_id=client.site_id,
                recipient_key=site_keys[client.site_id].public_key,
            ).to_bytes()
            for client in clients
        ]
        sealed_at = time.perf_counter()
        raw = await asyncio.gather(*(client.search(body, 60) for client, body in zip(clients, sealed, strict=True)))
        answered_at = time.perf_counter()
        replies = [SiteReply.from_bytes(opener.open_bytes(data)) for data in raw]
        decoded_at = time.perf_counter()
        rankings = {reply.site_id: with_candidates(reply.site_id, reply, K) for reply in replies}
        merged = merge_passages(rankings, K, "dense", {reply.site_id: reply.embedder_version for reply in replies})
        merged_at = time.perf_counter()
        assert len(merged) == K
        if index < WARMUP:
            continue
        steps["seal"].append((sealed_at - started) * 1000)
        steps["http"].append((answered_at - sealed_at) * 1000)
        steps["site search"].append(max(reply.timings_ms.get("search", 0.0) for reply in replies))
        steps["decode"].append((decoded_at - answered_at) * 1000)
        steps["merge"].append((merged_at - decoded_at) * 1000)
    return {step: float(np.mean(values)) for step, values in steps.items()}


async def measure(
    profile: bool,
    urls: Sequence[str],
    site_ids: Sequence[str],
    gateway: KeyPair,
    site_keys: dict[str, KeyPair],
    version: str,
    vectors: Sequence[tuple[str, Vector]],
) -> dict[str, dict[str, float]]:
    report: dict[str, dict[str, float]] = {}
    async with site_http_client() as http:
        clients = [HttpSiteClient(sid, url, http) for sid, url in zip(site_ids, urls, strict=True)]
        keys = {sid: pair.public_key for sid, pair in site_keys.items()}
        for n_sites in (1, 3, SITES):
            router = Router(
                keys=gateway,
                gateway_id="gateway",
                site_keys=keys,
                clients=clients[:n_sites],
                policy=RoutingPolicy(deadline_s=120),
            )
            report[f"sealed HTTP @{n_sites}"] = await sealed_http(router, version, vectors, n_sites)
            report[f"HTTP floor @{n_sites}"] = await http_floor(http, urls[:n_sites], len(vectors))
            print(f"  {n_sites} sites done; load {os.getloadavg()[0]:.1f}", flush=True)
        report[f"steps @{SITES}"] = await breakdown(clients, gateway, site_keys, version, vectors)
        if profile:
            router = Router(
                keys=gateway,
                gateway_id="gateway",
                site_keys=keys,
                clients=clients,
                policy=RoutingPolicy(deadline_s=120),
            )
            report[f"CPU by package @{SITES}"] = await cpu_by_package(router, version, vectors)
    return report


async def cpu_by_package(router: Router, version: str, vectors: Sequence[tuple[str, Vector]]) -> dict[str, float]:
    """The router's own time per query at 10 sites under cProfile, by the package its functions are in
    (their own time, not their callees'): what the gateway's CPU per site is made of. cProfile slows
    everything down, so the shares matter, not the sum."""
    profiler = cProfile.Profile()
    profiler.enable()
    for text, vector in vectors:
        await router.query(text, vector, version, k=K, mode="dense", want_answer=False)
    profiler.disable()
    totals: Counter[str] = Counter()
    for (filename, _, function), (_, _, own_time, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        totals[_package_of(filename, function)] += own_time * 1000 / len(vectors)
    return dict(totals.most_common(14))


_BUILTIN_OWNERS = (
    ("pydantic_core", "pydantic"),
    ("nacl", "nacl"),
    ("_sodium", "nacl"),
    ("epoll", "event loop (epoll)"),
    ("select", "event loop (epoll)"),
    ("socket", "sockets"),
    ("json", "json"),
    ("numpy", "numpy"),
)


def _package_of(filename: str, function: str) -> str:
    """Site-packages by package, ours by top folder, the standard library by module, built-ins (C
    functions, ``~``) by the object they belong to (pydantic-core's validators, libsodium, epoll)."""
    if filename == "~":
        return next((owner for marker, owner in _BUILTIN_OWNERS if marker in function), "other built-ins")
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    if str(path).startswith(str(REPO)):
        return path.relative_to(REPO).parts[0] + " (ours)"
    library = [part for part in parts if part.startswith("python3")]
    if library:
        module = parts[parts.index(library[0]) + 1]
        return module.removesuffix(".py")
    return "other"


def show(report: dict[str, dict[str, float]]) -> None:
    base = report["sealed HTTP @1"]
    print(
        f"{'row':18} {'p50 ms':>8} {'p95 ms':>8} {'x @1 p50':>9} {'x @1 p95':>9} {'CPU ms/q':>9} "
        f"{'CPU ms/site':>11} {'bytes/q':>9}"
    )
    for n_sites in (1, 3, SITES):
        row = report[f"sealed HTTP @{n_sites}"]
        floor = report[f"HTTP floor @{n_sites}"]
        print(
            f"{'sealed HTTP @' + str(n_sites):18} {row['p50']:8.1f} {row['p95']:8.1f} {row['p50'] / base['p50']:9.2f} "
            f"{row['p95'] / base['p95']:9.2f} {row['cpu_ms_per_query']:9.2f} {row['cpu_ms_per_site']:11.2f} "
            f"{row['bytes_per_query']:9.0f}"
        )
        print(f"{'HTTP floor @' + str(n_sites):18} {floor['p50']:8.1f} {floor['p95']:8.1f}")
    steps = report[f"steps @{SITES}"]
    total = steps["seal"] + steps["http"] + steps["decode"] + steps["merge"]
    print(f"\nwhere the time goes at {SITES} sites (mean ms per query; sum {total:.1f} ms):")
    for step, value in steps.items():
        share = f"{value / total:6.1%}" if step != "site search" else "  (inside HTTP)"
        print(f"  {step:12} {value:7.2f}  {share}")
    packages = report.get(f"CPU by package @{SITES}")
    if packages:
        whole = sum(packages.values())
        print(
            f"\nthe router's CPU at {SITES} sites by package (cProfile, own time, ms per query; top {len(packages)}):"
        )
        for package, value in packages.items():
            print(f"  {package:20} {value:7.2f}  {value / whole:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--queries", type=int, default=60, help="questions per measurement (after 3 warm-ups)")
    parser.add_argument("--profile", action="store_true", help="also the router's CPU by package (cProfile)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    print("load at start:", os.getloadavg())
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    embedder = load_embedder(Settings().embedder)
    questions = [query.text for query in list(dataset.queries)[: args.queries]]
    vectors = list(zip(questions, embedder.embed(questions), strict=True))
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "sites"
        split = split_corpus(dataset, f"cluster:{SITES}", seed=0)
        sites = build_sites(
            {sid: [docs[d] for d in ids] for sid, ids in split.items()}, Settings(data_dir=data_dir), embedder
        )
        site_ids = sorted(sites)
        site_keys = {sid: KeyPair.load(site.layout.keys_dir) for sid, site in sites.items()}
        print("chunks per site:", {sid: sites[sid].chunk_count for sid in site_ids}, flush=True)
        for site in sites.values():
            site.close()
        gateway = KeyPair.generate()
        gateway.save(tmp / "gateway" / "keys")
        specs = [
            site_service_spec(f"site-{sid}", sid, data_dir, tmp / "gateway" / "keys" / "public.key") for sid in site_ids
        ]
        with services(specs, tmp) as urls:
            report = asyncio.run(
                measure(args.profile, urls, site_ids, gateway, site_keys, embedder.model_version, vectors)
            )
    print(f"\nCranfield, {len(vectors)} questions, dense, {K} chunks, sealed HTTP on loopback")
    show(report)
    print("load at end:", os.getloadavg())
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
