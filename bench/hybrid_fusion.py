"""How to fuse a site's dense and keyword rankings: RRF against a scaled-score sum, on real corpora.

Cranfield and the Galaxy S10 manual (../shared/datasets, BEIR layout) are each indexed in one real site
(packaged all-MiniLM-L6-v2, exact FAISS, BM25 as FTS5 computes it). For every judged query the dense and
the keyword ranking are taken 100 deep once; each fusion rule then ranks documents by their best chunk,
and ranx scores nDCG@10. Rules:

- ``rrf k=K depth=D w=W``: reciprocal rank fusion, ``1/(K + rank)`` per ranking, the keyword ranking
  weighted W, each ranking cut at D;
- ``min-max a=A depth=D``: each ranking's scores scaled to [0, 1] over its best D (best 1, D-th 0), then
  ``A * dense + (1 - A) * keyword`` (what ``rag_fed.fusion.fuse_min_max`` does with A = 0.5, D = 100).

The last two columns are the gain over the better single mode of that corpus, in points of nDCG@10.

    .venv/bin/python bench/hybrid_fusion.py [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from collections.abc import Callable
from pathlib import Path

from eval.datasets import load_beir
from eval.metrics import retrieval_metrics
from eval.site_systems import build_sites
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.fusion import fuse_min_max, fuse_reciprocal_rank

REPO = Path(__file__).resolve().parents[1]
CORPORA = (("cranfield", "cranfield/beir"), ("s10", "emanual_s10/beir"))
DEPTH = 100

Scored = list[tuple[int, float]]
Rule = Callable[[Scored, Scored], list[int]]


Runs = list[tuple[str, Scored, Scored]]


def rankings(folder: Path, embedder: Embedder) -> tuple[Runs, dict[int, str], dict[str, dict[str, int]]]:
    """Per judged query: its dense and keyword rankings (chunk id, score), 100 deep; chunk -> document."""
    dataset = load_beir(folder)
    chunk_doc: dict[int, str] = {}
    qrels = dataset.qrels()
    queries = [q for q in dataset.queries if q.query_id in qrels]
    vectors = embedder.embed([q.text for q in queries])
    with tempfile.TemporaryDirectory() as tmp:
        site = build_sites({"one": dataset.corpus}, Settings(data_dir=Path(tmp)), embedder)["one"]
        runs = []
        for query, vector in zip(queries, vectors, strict=True):
            dense = site.search(query.text, DEPTH, "dense", query_vector=vector)
            keyword = site.search(query.text, DEPTH, "keyword", query_vector=vector)
            runs.append(
                (query.query_id, [(p.chunk_id, p.score) for p in dense], [(p.chunk_id, p.score) for p in keyword])
            )
            for passage in dense + keyword:
                chunk_doc[passage.chunk_id] = passage.citation.doc_id
        site.close()
    return runs, chunk_doc, qrels


def ndcg(runs: Runs, docs: dict[int, str], qrels: dict[str, dict[str, int]], rule: Rule) -> float:
    run = {}
    for query_id, dense, keyword in runs:
        ranked: list[str] = []
        for chunk_id in rule(dense, keyword):
            if docs[chunk_id] not in ranked:
                ranked.append(docs[chunk_id])
            if len(ranked) == 10:
                break
        run[query_id] = {doc_id: float(10 - rank) for rank, doc_id in enumerate(ranked)}
    return retrieval_metrics(run, qrels, ("ndcg@10",))["ndcg@10"]


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {
        "dense": lambda dense, keyword: [c for c, _ in dense],
        "keyword": lambda dense, keyword: [c for c, _ in keyword],
    }
    for k, depth, weight in itertools.product((10, 30, 60), (50, 100), (0.5, 1.0, 2.0)):

        def rrf(dense: Scored, keyword: Scored, k: int = k, depth: int = depth, weight: float = weight) -> list[int]:
            lists = [[c for c, _ in dense[:depth]], [c for c, _ in keyword[:depth]]]
            return [c for c, _ in fuse_reciprocal_rank(lists, k=k, weights=[1.0, weight])]

        out[f"rrf k={k} depth={depth} w={weight}"] = rrf
    for alpha, depth in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7), (50, 100)):

        def min_max(dense: Scored, keyword: Scored, alpha: float = alpha, depth: int = depth) -> list[int]:
            return [c for c, _ in fuse_min_max([dense[:depth], keyword[:depth]], weights=[alpha, 1 - alpha])]

        out[f"min-max a={alpha} depth={depth}"] = min_max
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    embedder = load_embedder(Settings().embedder)
    results: dict[str, dict[str, float]] = {}
    for name, folder in CORPORA:
        runs, docs, qrels = rankings(args.datasets / folder, embedder)
        results[name] = {label: ndcg(runs, docs, qrels, rule) for label, rule in rules().items()}
    names = [name for name, _ in CORPORA]
    print(f"{'rule':28} " + " ".join(f"{n:>9}" for n in names) + " " + " ".join(f"{n + ' gain':>11}" for n in names))
    best = {n: max(results[n]["dense"], results[n]["keyword"]) for n in names}
    for label in results[names[0]]:
        cells = " ".join(f"{results[n][label]:9.4f}" for n in names)
        gains = " ".join(f"{(results[n][label] - best[n]) * 100:+11.2f}" for n in names)
        print(f"{label:28} {cells} {gains}")
    print("(nDCG@10; gain: points over the better single mode of the corpus)")


if __name__ == "__main__":
    main()
