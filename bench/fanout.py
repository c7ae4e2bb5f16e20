"""What the gateway's sealed fan-out costs at 3, 10, 30 and 100 sites, and where each millisecond goes.

Cranfield (../shared/datasets, BEIR layout) is split by topic over 3, 10, 30 and 100 sites (``eval.splits``
``cluster:N``, seed 0): each split holds the whole corpus, so every row compares with one central index over
the same chunks. All the splits' sites (143) are served by a few site host processes on loopback (each
site at ``<host>/sites/<site id>``, its own keys and folder; api/site_service/host.py), a split's sites
spread over the hosts in turn. This process plays the gateway: ``Router.query`` over ``HttpSiteClient`` on
the gateway's one pooled client, dense, 30 chunks, ``want_answer=false``, one question at a time:

- ``all @N``: every site asked; ``selected @N``: the router's sketch selection (chunk cover 80, the
  setting bench/query.py measured); p50/p95, nDCG@10 and its ratio to the central index, the share of
  sites asked, this process's CPU per question and per site asked, bytes of sealed envelopes per question;
- ``floor @N``: ``GET /health`` of the same N sites at once on the same client (no sealing, search, JSON);
- ``steps @10``, ``steps @100``: the router's steps done one by one and timed (``seal``, ``HTTP``, of
  which the slowest site's own ``site search``, ``decode``, ``merge``);
- ``selected @N before``, ``selected @N``, ``selected @N text 2`` (and with ``--pool-per-host`` ``pool/host``),
  interleaved question by question: choosing as before ``StackedSketches`` (one product per site), now,
  and with ``routing.text_share = 2`` (replies without the losers' text; ``fetched``: the share of
  questions that needed the second call); ``steps selected @N``: those steps for the sites the selection
  asks, with ``select``, the wait for the first reply and the reply bytes per site;
- with ``--per-process``: the 10-site split again, one site service process per site (the layout before
  the site host), for the same rows in the same run.

    .venv/bin/python bench/fanout.py [--queries 60] [--hosts 4] [--sizes 3 10 30 100] [--per-process]
        [--batched-only] [--profile] [--pool-per-host] [--pin] [--out results.json]

``--pin`` puts this process on CPU 0 and the site hosts on the other CPUs: on two cores the hosts then
share one, so latencies grow, but the gateway's CPU per site is read without the hosts' contention on its
core (process CPU time rises by a quarter or more when other processes share the core).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._fanout_breakdown import PerSiteProducts, breakdown, cpu_by_package, top_functions  # noqa: E402
from bench._fanout_report import show  # noqa: E402
from bench._services import pin_apart, services, site_host_spec, site_service_spec  # noqa: E402
from bench.query import CachedEmbedder, Query, bench_central, summary  # noqa: E402
from eval.datasets import EvalDataset, load_beir  # noqa: E402
from eval.site_systems import build_sites  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.crypto import KeyPair  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.router import HttpSiteClient, Router, RoutingPolicy  # noqa: E402
from rag_fed.router.clients import http_site_clients, site_http_client  # noqa: E402
from rag_fed.router.host_batch import host_of  # noqa: E402
from rag_fed.router.selection import choose_by_sketch, score_sites  # noqa: E402
from rag_fed.types import Passage  # noqa: E402

K = 30
SIZES = (3, 10, 30, 100)
WARMUP = 3
SELECTION = {"selection": "sketch", "cover_chunks": 80}
# Every site's reply is timed, on a loaded machine too: no straggler grace (at load 20, 100 sites asked at
# once had sites answer more than the 2 s default after the first).
WAIT_FOR_ALL: dict[str, object] = {"deadline_s": 120, "straggler_grace_s": None}
# Selection rows, interleaved: every passage with its text (the path before text_k), and each site
# sending the text of its best text_share x (k / sites asked) passages only (RoutingPolicy.text_share).
SELECTED_ROWS: dict[str, dict[str, object]] = {" before": {}, "": {}, " text 2": {"text_share": 2.0}}
BEFORE = " before"  # the sketch scored as before StackedSketches: one product per site and question
UNBATCHED = "1 req/site"  # rows with one HTTP request per site (the path before host batches)
Row = dict[str, float]


def _percentiles(values: Sequence[float]) -> Row:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


async def sealed_http(router: Router, version: str, queries: Sequence[Query], dataset: EvalDataset) -> Row:
    """``Router.query`` end to end: latency, nDCG@10, sites asked, CPU of this process, bytes."""
    return (await sealed_http_ab({"": router}, version, queries, dataset))[""]


async def sealed_http_ab(
    routers: Mapping[str, Router], version: str, queries: Sequence[Query], dataset: EvalDataset
) -> dict[str, Row]:
    """``sealed_http`` of several routers on the same questions, interleaved: each question is asked of
    every router in turn (the first router changing each question), so load that comes and goes falls on
    all of them. Also the share of questions that needed a second call to fetch candidates' text."""
    names = list(routers)
    for _, text, vector in queries[:WARMUP]:
        for router in routers.values():
            await router.query(text, vector, version, k=K, mode="dense", want_answer=False)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu = dict.fromkeys(names, 0.0)
    sizes, asked, fetched = ({name: [] for name in names} for _ in range(3))  # type: ignore[var-annotated]
    rankings: dict[str, dict[str, list[Passage]]] = {name: {} for name in names}
    for index, (query_id, text, vector) in enumerate(queries):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            cpu_started, started = time.process_time(), time.perf_counter()
            result = await routers[name].query(text, vector, version, k=K, mode="dense", want_answer=False)
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name] += time.process_time() - cpu_started
            sizes[name].append(result.bytes_total)
            rankings[name][query_id] = result.passages
            sites = [site for site in result.sites if site.status != "skipped"]
            asked[name].append(len(sites))
            fetched[name].append(float(any(site.fetched for site in sites)))
            assert all(site.status == "answered" for site in sites), [site.error for site in sites if site.error]
    rows = {}
    for name in names:
        cpu_ms = cpu[name] * 1000 / len(queries)
        scored = summary(times[name], rankings[name], dataset)
        rows[name] = {
            "p50": scored["p50_ms"],
            "p95": scored["p95_ms"],
            "ndcg@10": scored["ndcg@10"],
            "sites_asked": float(np.mean(asked[name])),
            "cpu_ms_per_query": cpu_ms,
            "cpu_ms_per_site": cpu_ms / float(np.mean(asked[name])),
            "bytes_per_query": float(np.mean(sizes[name])),
            "fetch_share": float(np.mean(fetched[name])),
        }
    return rows


async def http_floor(http: httpx.AsyncClient, urls: Sequence[str], rounds: int) -> Row:
    """Concurrent ``GET /health`` of ``urls``: the cost of plain HTTP to that many sites."""
    times = []
    for index in range(rounds + WARMUP):
        started = time.perf_counter()
        responses = await asyncio.gather(*(http.get(f"{url}/health") for url in urls))
        if index >= WARMUP:
            times.append((time.perf_counter() - started) * 1000)
        assert all(response.status_code == 200 for response in responses)
    return _percentiles(times)


async def measure_split(
    label: str,
    http: httpx.AsyncClient,
    site_urls: Mapping[str, str],
    gateway: KeyPair,
    site_keys: Mapping[str, KeyPair],
    version: str,
    queries: Sequence[Query],
    dataset: EvalDataset,
    selection: bool = True,
    batched: bool = True,
    per_host: httpx.AsyncClient | None = None,
) -> dict[str, Row]:
    """The rows of one split: every site asked, then (``selection``) the sketch's choice, then the floor.
    ``batched``: the gateway's clients (one request per site host); else one request per site.
    ``per_host``: a client with one connection pool per host, for a ``pool/host`` selected row."""
    clients = _clients(site_urls, http, batched)
    keys = {sid: site_keys[sid].public_key for sid in site_urls}

    def router(policy: RoutingPolicy, over: Sequence[HttpSiteClient] = clients) -> Router:
        return Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=over, policy=policy)

    asking_all = router(RoutingPolicy.model_validate(WAIT_FOR_ALL))
    rows = {f"all {label}": await sealed_http(asking_all, version, queries, dataset)}
    if selection:
        selecting = {
            f"selected {label}{name}": router(RoutingPolicy.model_validate({**WAIT_FOR_ALL, **SELECTION, **fields}))
            for name, fields in SELECTED_ROWS.items()
        }
        if per_host is not None:
            pooled = router(
                RoutingPolicy.model_validate({**WAIT_FOR_ALL, **SELECTION}), _clients(site_urls, per_host, True)
            )
            selecting[f"selected {label} pool/host"] = pooled
        for selector in selecting.values():
            errors = await selector.refresh_sketches(timeout_s=60)
            assert not any(errors.values()), errors
        selecting[f"selected {label}{BEFORE}"]._scorer = PerSiteProducts()  # type: ignore[assignment]
        rows.update(await sealed_http_ab(selecting, version, queries, dataset))
    if selection:
        rows[f"floor {label}"] = await http_floor(http, list(site_urls.values()), len(queries))
    print(f"  {label} done; load {os.getloadavg()[0]:.1f}", flush=True)
    return rows


async def measure_hosts(
    split_urls: Mapping[int, Mapping[str, str]],
    gateway: KeyPair,
    site_keys: Mapping[str, KeyPair],
    version: str,
    queries: Sequence[Query],
    dataset: EvalDataset,
    profile: bool,
    unbatched: bool = True,
    pool_per_host: bool = False,
) -> dict[str, Row]:
    report: dict[str, Row] = {}
    origins = {found[0] for urls in split_urls.values() for url in urls.values() if (found := host_of(url))}
    mounts = {origin: httpx.AsyncHTTPTransport() for origin in sorted(origins)} if pool_per_host else None
    async with site_http_client() as http, httpx.AsyncClient(mounts=mounts) as per_host:
        for n_sites, urls in split_urls.items():
            per_host_http = per_host if pool_per_host else None
            report.update(
                await measure_split(
                    f"@{n_sites}", http, urls, gateway, site_keys, version, queries, dataset, per_host=per_host_http
                )
            )
            if unbatched:
                report.update(
                    await measure_split(
                        f"@{n_sites} {UNBATCHED}",
                        http,
                        urls,
                        gateway,
                        site_keys,
                        version,
                        queries,
                        dataset,
                        False,
                        False,
                    )
                )
        layouts = ((True, ""), (False, f" {UNBATCHED}")) if unbatched else ((True, ""),)
        for n_sites in sorted({10, 100} & set(split_urls)):
            for batched, suffix in layouts:
                clients = _clients(split_urls[n_sites], http, batched)
                steps = await breakdown(clients, gateway, site_keys, version, queries, K)
                report[f"steps @{n_sites}{suffix}"] = steps
        for n_sites, urls in split_urls.items():
            steps = await selected_steps(http, urls, gateway, site_keys, version, queries)
            report[f"steps selected @{n_sites}"] = steps
        if profile and 100 in split_urls:
            clients = _clients(split_urls[100], http, True)
            keys = {client.site_id: site_keys[client.site_id].public_key for client in clients}
            policy = RoutingPolicy.model_validate({**WAIT_FOR_ALL, **SELECTION})
            router = Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=clients, policy=policy)
            await router.refresh_sketches(timeout_s=60)
            report["functions selected @100"] = await top_functions(router, version, queries, K)
            policy = RoutingPolicy.model_validate(WAIT_FOR_ALL)
            router = Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=clients, policy=policy)
            report["functions all @100"] = await top_functions(router, version, queries, K, top=25)
        if profile and 10 in split_urls:
            clients = _clients(split_urls[10], http, True)
            keys = {client.site_id: site_keys[client.site_id].public_key for client in clients}
            router = Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=clients)
            report["CPU by package @10"] = await cpu_by_package(router, version, queries, K)
    return report


async def selected_steps(
    http: httpx.AsyncClient,
    urls: Mapping[str, str],
    gateway: KeyPair,
    site_keys: Mapping[str, KeyPair],
    version: str,
    queries: Sequence[Query],
) -> Row:
    """The router's steps one by one for the sites its sketch selection asks (``select`` included)."""
    clients = _clients(urls, http, True)
    keys = {sid: site_keys[sid].public_key for sid in urls}
    policy = RoutingPolicy.model_validate({**WAIT_FOR_ALL, **SELECTION})
    router = Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=clients, policy=policy)
    errors = await router.refresh_sketches(timeout_s=60)
    assert not any(errors.values()), errors
    sketches, candidates = router.sketches, sorted(urls)

    def choose(vector: NDArray[np.float32]) -> set[str]:
        return choose_by_sketch(score_sites(vector, version, sketches, candidates), candidates, policy)

    return await breakdown(clients, gateway, site_keys, version, queries, K, choose)


def _clients(urls: Mapping[str, str], http: httpx.AsyncClient, batched: bool) -> list[HttpSiteClient]:
    if batched:
        return http_site_clients(urls, http)
    return [HttpSiteClient(sid, url, http) for sid, url in sorted(urls.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--queries", type=int, default=60, help="questions per measurement (after 3 warm-ups)")
    parser.add_argument("--hosts", type=int, default=4, help="site host processes serving all the splits' sites")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="split sizes (steps at 10 and 100)")
    parser.add_argument("--per-process", action="store_true", help="also the 10-site split, one process per site")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also the router's CPU by package at 10 sites, its top functions at 100 (selected, asking all)",
    )
    parser.add_argument("--batched-only", action="store_true", help="leave out the one-request-per-site rows")
    parser.add_argument("--pool-per-host", action="store_true", help="also selected rows, one connection pool per host")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="this process (the gateway) on CPU 0, the site hosts on the others: its CPU per site without "
        "the hosts' contention on its core",
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    print("load at start:", os.getloadavg())
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    embedder = CachedEmbedder(load_embedder(Settings().embedder))
    judged = list(dataset.queries)[: args.queries]
    dataset = dataclasses.replace(dataset, queries=judged)  # nDCG over the questions asked, not all 225
    vectors = embedder.embed([query.text for query in judged])
    queries = [(query.query_id, query.text, vectors[i]) for i, query in enumerate(judged)]
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    report: dict[str, Row] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        central = build_sites({"central": dataset.corpus}, Settings(data_dir=tmp / "central"), embedder)["central"]
        report["central"] = bench_central(central, queries, dataset, None)
        central.close()
        site_dirs: dict[int, dict[str, Path]] = {}
        site_keys: dict[str, KeyPair] = {}
        for n_sites in args.sizes:
            split = split_corpus(dataset, f"cluster:{n_sites}", seed=0)
            data_dir = tmp / f"sites-{n_sites}"
            named = {f"n{n_sites}-{sid}": [docs[d] for d in ids] for sid, ids in sorted(split.items())}
            sites = build_sites(named, Settings(data_dir=data_dir), embedder)
            counts = [site.chunk_count for site in sites.values()]
            print(f"{n_sites} sites: {min(counts)}-{max(counts)} chunks per site, {sum(counts)} in all", flush=True)
            for sid, site in sites.items():
                site_keys[sid] = KeyPair.load(site.layout.keys_dir)
                site.close()
            site_dirs[n_sites] = dict.fromkeys(sites, data_dir)
        gateway = KeyPair.generate()
        gateway_key = tmp / "gateway" / "keys" / "public.key"
        gateway.save(gateway_key.parent)
        hosted: list[list[tuple[str, Path]]] = [[] for _ in range(args.hosts)]
        where: dict[str, int] = {}
        for dirs in site_dirs.values():
            for index, (sid, data_dir) in enumerate(dirs.items()):
                hosted[index % args.hosts].append((sid, data_dir))
                where[sid] = index % args.hosts
        specs = [site_host_spec(f"host-{i}", sites, gateway_key, tmp) for i, sites in enumerate(hosted)]
        version = embedder.model_version
        host_pids: list[int] = []
        with services(specs, tmp, pids=host_pids) as host_urls:
            if args.pin:
                pin_apart(host_pids)
            split_urls = {
                n: {sid: f"{host_urls[where[sid]]}/sites/{sid}" for sid in dirs} for n, dirs in site_dirs.items()
            }
            report.update(
                asyncio.run(
                    measure_hosts(
                        split_urls,
                        gateway,
                        site_keys,
                        version,
                        queries,
                        dataset,
                        args.profile,
                        not args.batched_only,
                        args.pool_per_host,
                    )
                )
            )
        if args.per_process and 10 in site_dirs:
            per_site = [site_service_spec(sid, sid, data_dir, gateway_key) for sid, data_dir in site_dirs[10].items()]
            with services(per_site, tmp) as urls:
                report.update(
                    asyncio.run(
                        _per_process(
                            dict(zip(site_dirs[10], urls, strict=True)), gateway, site_keys, version, queries, dataset
                        )
                    )
                )
    print(f"\nCranfield, {len(queries)} questions, dense, {K} chunks, sealed HTTP on loopback, {args.hosts} site hosts")
    show(report)
    print("load at end:", os.getloadavg())
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


async def _per_process(
    urls: Mapping[str, str],
    gateway: KeyPair,
    site_keys: Mapping[str, KeyPair],
    version: str,
    queries: Sequence[Query],
    dataset: EvalDataset,
) -> dict[str, Row]:
    async with site_http_client() as http:
        rows = await measure_split("@10 per process", http, urls, gateway, site_keys, version, queries, dataset, False)
        clients = _clients(urls, http, False)
        rows["steps @10 per process"] = await breakdown(clients, gateway, site_keys, version, queries, K)
    return rows


if __name__ == "__main__":
    main()
