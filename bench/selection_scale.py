"""Site selection rules from 3 to 100 sites, offline: how many sites (and site hosts) each rule asks and
the nDCG@10 it keeps, on several splits and two collections. The method behind ``routing.max_sites``.

Each collection (../shared/datasets, BEIR layout: Cranfield, the S10 manual) is split by topic over 3, 10,
30 and 100 sites (``eval.splits`` ``cluster:N``, seeds 0-2; sizes a collection has too few documents for
are left out). Every site is a real one (packaged embedder, FAISS); its sketch is the one it publishes
(``build_sketch``, 16 centroids at most). Each site is searched once per question (dense, 30 chunks);
a rule's federated ranking is the merge of the chosen sites' lists by score, which in dense mode is what
the router returns (merge.py is exact), so a rule is scored without HTTP. Per rule and split: the mean
and p95 of the sites asked, of the site hosts they sit on (sites dealt over ``--hosts`` hosts in turn, as
bench/fanout.py does), and nDCG@10 over central (all sites).

``--cost``: what choosing costs the gateway per question (``score_sites`` + ``choose_by_sketch``, cover 80)
at 3 to 100 sites of 16 random centroids each (384 dimensions), against the per-site pass it replaced
(kept here as the baseline), the two interleaved in one run.

    .venv/bin/python bench/selection_scale.py [--seeds 0 1 2] [--sizes 3 10 30 100] [--out results.json]
    .venv/bin/python bench/selection_scale.py --cost
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._fanout_breakdown import PerSiteProducts  # noqa: E402
from bench.query import CHUNKS_K, CachedEmbedder, summary  # noqa: E402
from eval.datasets import EvalDataset, load_beir  # noqa: E402
from eval.site_systems import build_sites  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.router import RoutingPolicy  # noqa: E402
from rag_fed.router.selection import SketchScorer, SketchScores, choose_by_sketch, score_sites  # noqa: E402
from rag_fed.router.sketch import SiteSketch, centroid_sizes  # noqa: E402
from rag_fed.site.sketch import build_sketch  # noqa: E402
from rag_fed.types import Passage  # noqa: E402

COLLECTIONS = ("cranfield", "emanual_s10")
RULES: dict[str, dict[str, object]] = {
    "cover 80": {"cover_chunks": 80},
    **{f"cover 80, max {m}": {"cover_chunks": 80, "max_sites": m} for m in (2, 3, 4, 5)},
}
Row = dict[str, float]


def study_split(
    dataset: EvalDataset, n_sites: int, seed: int, embedder: CachedEmbedder, tmp: Path, hosts: int
) -> dict[str, Row]:
    split = split_corpus(dataset, f"cluster:{n_sites}", seed=seed)
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    sites = build_sites(
        {sid: [docs[d] for d in ids] for sid, ids in sorted(split.items())},
        Settings(data_dir=tmp / f"{n_sites}-{seed}"),
        embedder,
    )
    version = embedder.model_version
    sketches = {}
    for sid, site in sites.items():
        snapshot = site.vector_snapshot()
        sketches[sid] = build_sketch(sid, snapshot.embedder_version, snapshot.vectors)
    host_of = {sid: index % hosts for index, sid in enumerate(sorted(sites))}
    vectors = embedder.embed([query.text for query in dataset.queries])
    lists: list[dict[str, list[Passage]]] = []
    for i, query in enumerate(dataset.queries):
        vector = vectors[i]
        lists.append(
            {sid: site.search(query.text, CHUNKS_K, "dense", query_vector=vector) for sid, site in sites.items()}
        )
    for site in sites.values():
        site.close()
    candidates = sorted(sites)
    rows: dict[str, Row] = {}
    for name, fields in {"all": {}, **RULES}.items():
        policy = RoutingPolicy.model_validate({"selection": "sketch", **fields})
        asked, on_hosts, rankings = [], [], {}
        for i, query in enumerate(dataset.queries):
            if fields:
                chosen = choose_by_sketch(score_sites(vectors[i], version, sketches, candidates), candidates, policy)
            else:
                chosen = set(candidates)
            asked.append(len(chosen))
            on_hosts.append(len({host_of[sid] for sid in chosen}))
            merged = sorted((p for sid in chosen for p in lists[i][sid]), key=lambda p: -p.score)[:CHUNKS_K]
            rankings[query.query_id] = merged
        rows[name] = {
            "sites": float(np.mean(asked)),
            "sites_p95": float(np.percentile(asked, 95)),
            "hosts": float(np.mean(on_hosts)),
            "ndcg@10": summary([0.0], rankings, dataset)["ndcg@10"],
        }
    central = rows["all"]["ndcg@10"]
    for row in rows.values():
        row["kept"] = row["ndcg@10"] / central if central else float("nan")
    return rows


def _centroids_of(sketch: SiteSketch) -> NDArray[np.float32]:
    if sketch.centroids is None:  # every site of this bench has chunks, hence centroids
        raise ValueError(f"site {sketch.site_id} sent a sketch without centroids")
    return sketch.centroids


def per_site_loop(
    query: NDArray[np.float32], version: str, sketches: Mapping[str, SiteSketch], candidates: Sequence[str]
) -> SketchScores:
    """The baseline: ``score_sites`` before it counted the chunks ahead with one sort (it made one pass over
    every centroid per site)."""
    vector = query / max(float(np.linalg.norm(query)), 1e-12)
    similarities = {site_id: _centroids_of(sketches[site_id]) @ vector for site_id in candidates}
    sizes = [centroid_sizes(sketches[site_id]) for site_id in candidates]
    all_similarities, all_sizes = np.concatenate(list(similarities.values())), np.concatenate(sizes)
    scores = {site_id: float(np.max(values)) for site_id, values in similarities.items()}
    ahead = {site_id: float(all_sizes[all_similarities > best].sum()) for site_id, best in scores.items()}
    return SketchScores(scores, ahead)


per_site_products = PerSiteProducts().scores  # score_sites before StackedSketches: one product per site


def selection_cost(sizes: Sequence[int], blocks: int = 15, rounds: int = 20) -> None:
    """Median and best of ``blocks`` blocks of ``rounds`` questions, the two scorers' blocks interleaved
    (load that comes and goes falls on both; the best block is the least disturbed)."""
    rng = np.random.default_rng(0)
    policy = RoutingPolicy(selection="sketch", cover_chunks=80)
    print(
        f"{'sites':>5} {'per-site pass us (best)':>24} {'one sort us (best)':>19} {'ratio of medians':>17}"
        f" {'stacked, kept us (best)':>23} {'sort / kept':>11}"
    )
    for n_sites in sizes:
        sketches = {}
        for number in range(n_sites):
            rows = rng.normal(size=(16, 384)).astype(np.float32)
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            sizes_ = tuple(int(v) for v in rng.integers(5, 60, size=16))
            sketches[f"s{number}"] = SiteSketch(
                site_id=f"s{number}", embedder_version="v", chunk_count=sum(sizes_), centroids=rows, sizes=sizes_
            )
        candidates = sorted(sketches)
        queries = rng.normal(size=(rounds, 384)).astype(np.float32)
        spent: dict[str, list[float]] = {"pass": [], "sort": [], "kept": []}
        kept = SketchScorer()  # the router's: the stacked centroids built once, kept between questions
        for _ in range(blocks):
            for name, score in (("pass", per_site_loop), ("sort", per_site_products), ("kept", kept.scores)):
                started = time.perf_counter()
                for query in queries:
                    assert choose_by_sketch(score(query, "v", sketches, candidates), candidates, policy)
                spent[name].append((time.perf_counter() - started) * 1e6 / rounds)
        (old, old_best), (new, new_best), (now, now_best) = ((float(np.median(v)), min(v)) for v in spent.values())
        print(
            f"{n_sites:5} {old:13.1f} ({old_best:7.1f}) {new:10.1f} ({new_best:6.1f}) {old / new:17.2f}"
            f" {now:10.1f} ({now_best:6.1f}) {new / now:13.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--collections", nargs="+", default=list(COLLECTIONS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 30, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cost", action="store_true", help="only what choosing costs per question")
    args = parser.parse_args()
    if args.cost:
        selection_cost(args.sizes)
        return
    embedder = CachedEmbedder(load_embedder(Settings().embedder))
    report: dict[str, dict[str, Row]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for collection in args.collections:
            dataset = load_beir(args.datasets / collection / "beir")
            judged = set(dataset.qrels())
            dataset = dataclasses.replace(dataset, queries=[q for q in dataset.queries if q.query_id in judged])
            for n_sites in args.sizes:
                if n_sites * 2 > len(dataset.corpus):
                    print(f"{collection}: {len(dataset.corpus)} documents, too few for {n_sites} sites", flush=True)
                    continue
                for seed in args.seeds:
                    label = f"{collection} @{n_sites} seed {seed}"
                    report[label] = study_split(dataset, n_sites, seed, embedder, Path(tmp_name), args.hosts)
                    show(label, report[label])
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


def show(label: str, rows: Mapping[str, Row]) -> None:
    print(f"\n{label}: {'sites':>6} {'p95':>5} {'hosts':>6} {'nDCG@10':>8} {'kept':>6}")
    for name, row in rows.items():
        print(
            f"  {name:24} {row['sites']:6.2f} {row['sites_p95']:5.0f} {row['hosts']:6.2f} "
            f"{row['ndcg@10']:8.4f} {row['kept']:6.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
