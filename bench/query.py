"""Federated vs centralized retrieval: latency, nDCG@10, bytes per query, and what site selection keeps.

Cranfield (../shared/datasets, BEIR layout) is indexed once centrally and once split over 3 and 10
sites (topical split: documents go to the site of their nearest k-means centroid, as plants hold
different equipment; ``--split random`` deals them round robin). Every site is a real ``Site`` behind
the real site responder (envelopes, protocol, egress) reached through ``InProcessSiteClient``, so the
latency is compute + crypto + serialisation without a network. Retrieval only (no model answers).
Selection: the router's sketch policy asking the best third of the sites; "nDCG kept" is its nDCG@10
over that of asking all.

    .venv/bin/python bench/query.py [--datasets ../shared/datasets] [--sites 3 10] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from api.site_service import SiteResponder, SiteServiceSettings
from eval.datasets import EvalDataset, EvalDoc, load_beir
from eval.metrics import retrieval_metrics
from eval.site_systems import build_sites, doc_ranking
from rag_fed.config import Settings
from rag_fed.crypto import KeyPair
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.router import InProcessSiteClient, Router, RoutingPolicy, build_sketch
from rag_fed.site import Site
from rag_fed.types import Passage

REPO = Path(__file__).resolve().parents[1]
CHUNKS_K = 30  # chunks asked for, then ranked by document: Cranfield abstracts can span several chunks
DOCS_K = 10


def split_docs(docs: Sequence[EvalDoc], sites: int, how: str, embedder: Embedder) -> dict[str, list[EvalDoc]]:
    names = [f"site-{i:02d}" for i in range(sites)]
    if how == "random":
        return {name: list(docs[i::sites]) for i, name in enumerate(names)}
    vectors = embedder.embed([f"{d.title}\n{d.text}" for d in docs])
    sketch = build_sketch("split", "v", vectors, max_centroids=sites, min_cluster_size=1)
    assert sketch.centroids is not None
    owner = np.argmax(vectors @ sketch.centroids.T, axis=1) % sites
    return {name: [d for d, o in zip(docs, owner, strict=True) if o == i] for i, name in enumerate(names)}


def percentiles(values: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95))}


def ndcg(rankings: Mapping[str, Sequence[Passage]], dataset: EvalDataset) -> float:
    run = {}
    for query_id, passages in rankings.items():
        doc_ids, _ = doc_ranking(passages, DOCS_K)
        run[query_id] = {doc_id: float(DOCS_K - i) for i, doc_id in enumerate(doc_ids)}
    return retrieval_metrics(run, dataset.qrels(), ["ndcg@10"])["ndcg@10"]


def bench_central(central: Site, queries: list[tuple[str, str, np.ndarray]], dataset: EvalDataset) -> dict[str, float]:
    timings, rankings = [], {}
    for query_id, text, vector in queries:
        started = time.perf_counter()
        rankings[query_id] = central.search(text, CHUNKS_K, "dense", query_vector=vector)
        timings.append((time.perf_counter() - started) * 1000)
    return {**percentiles(timings), "ndcg@10": ndcg(rankings, dataset), "bytes_per_query": 0.0, "share_asked": 1.0}


async def bench_federated(
    router: Router, version: str, queries: list[tuple[str, str, np.ndarray]], dataset: EvalDataset
) -> dict[str, float]:
    timings, rankings, sizes, shares = [], {}, [], []
    for query_id, text, vector in queries:
        started = time.perf_counter()
        result = await router.query(text, vector, version, k=CHUNKS_K, mode="dense", want_answer=False)
        timings.append((time.perf_counter() - started) * 1000)
        rankings[query_id] = result.passages
        sizes.append(result.bytes_total)
        asked = [s for s in result.sites if s.status != "skipped"]
        shares.append(len(asked) / len(result.sites))
        assert all(s.status == "answered" for s in asked), [s.error for s in asked if s.error]
    return {
        **percentiles(timings),
        "ndcg@10": ndcg(rankings, dataset),
        "bytes_per_query": float(np.mean(sizes)),
        "share_asked": float(np.mean(shares)),
    }


def make_router(sites: dict[str, Site], gateway: KeyPair, selection: str, max_sites: int) -> Router:
    settings = {
        site_id: SiteServiceSettings(site_id=site_id, gateway_public_key=gateway.public_key_text, egress="passages")
        for site_id in sites
    }
    responders = {
        site_id: SiteResponder(site, settings[site_id], KeyPair.load(site.layout.keys_dir), gateway.public_key)
        for site_id, site in sites.items()
    }
    policy = RoutingPolicy(deadline_s=120, selection=selection, max_sites=max_sites)  # type: ignore[arg-type]
    return Router(
        keys=gateway,
        gateway_id="gateway",
        site_keys={site_id: KeyPair.load(site.layout.keys_dir).public_key for site_id, site in sites.items()},
        clients=[InProcessSiteClient(sid, r.handle, sketch=r.sketch) for sid, r in responders.items()],
        policy=policy,
    )


async def run_split(
    n_sites: int, how: str, dataset: EvalDataset, embedder: Embedder, queries: list[tuple[str, str, np.ndarray]]
) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        sites = build_sites(split_docs(dataset.corpus, n_sites, how, embedder), settings, embedder)
        gateway = KeyPair.generate()
        try:
            results = {}
            for selection, max_sites in (("all", n_sites), ("sketch", max(1, math.ceil(n_sites / 3)))):
                router = make_router(sites, gateway, selection, max_sites)
                await router.refresh_sketches()
                results[f"federated-{selection}"] = await bench_federated(
                    router, embedder.model_version, queries, dataset
                )
            results["federated-sketch"]["ndcg_kept"] = (
                results["federated-sketch"]["ndcg@10"] / results["federated-all"]["ndcg@10"]
            )
            return results
        finally:
            for site in sites.values():
                site.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--sites", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--split", choices=["topical", "random"], default="topical")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    embedder = load_embedder(Settings().embedder)
    vectors = embedder.embed([query.text for query in dataset.queries])
    queries = [(q.query_id, q.text, vectors[i]) for i, q in enumerate(dataset.queries)]
    report: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        central = build_sites({"central": dataset.corpus}, Settings(data_dir=Path(tmp)), embedder)["central"]
        try:
            report["centralized"] = bench_central(central, queries, dataset)
        finally:
            central.close()
    for n_sites in args.sites:
        for name, values in asyncio.run(run_split(n_sites, args.split, dataset, embedder, queries)).items():
            report[f"{name}@{n_sites}"] = values
    print(f"Cranfield, {len(queries)} queries, {args.split} split, retrieval only (dense, in-process sites)")
    print(f"{'system':24} {'p50 ms':>8} {'p95 ms':>8} {'nDCG@10':>8} {'bytes/q':>9} {'asked':>6} {'kept':>6}")
    for name, v in report.items():
        kept = f"{v['ndcg_kept']:.3f}" if "ndcg_kept" in v else ""
        print(
            f"{name:24} {v['p50_ms']:8.1f} {v['p95_ms']:8.1f} {v['ndcg@10']:8.4f} "
            f"{v['bytes_per_query']:9.0f} {v['share_asked']:6.2f} {kept:>6}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
