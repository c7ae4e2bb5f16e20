"""Federated fine-tuning benchmark: does training across sites beat each site alone, and how close does it
come to pooling all the data?

Cranfield (1,400 aeronautics abstracts, 225 human-judged queries) is split at random into three sites.
Each site mines (title -> abstract) pairs from its own documents; the queries are never trained on.
Four embedders are compared by dense-retrieval nDCG@10 over the whole corpus:

* base         all-MiniLM-L6-v2 as shipped
* federated    ``run_federated_training`` over the three sites (Flower simulation)
* centralized  the same local training on the union of the sites' pairs (the upper bound FL cannot see)
* best site    the best of three models each trained on one site's pairs alone

Centralized and single-site training use ``rounds * local_epochs`` epochs, the same passes over each
pair as the federated run. Results are printed as a table and written as JSON.

    .venv/bin/python bench/federated_training.py [--datasets ../shared/datasets] [--rounds 3]
        [--max-pairs-per-site 200] [--strategy fedavg] [--out bench/results/federated_training.json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.datasets import EvalDataset, load_beir
from eval.metrics import retrieval_metrics
from rag_fed.training.model import get_weights, load_model, set_weights, train_local
from rag_fed.training.pairs import (
    PairMiningSettings,
    PairSplit,
    TrainingChunk,
    TrainingPair,
    mine_pairs,
    save_pairs,
    split_pairs,
)
from rag_fed.training.run import run_federated_training
from rag_fed.training.settings import TrainingConfig

REPO = Path(__file__).resolve().parents[1]
SITES = ("site-1", "site-2", "site-3")


def site_splits(dataset: EvalDataset, max_pairs: int, seed: int) -> dict[str, PairSplit]:
    """Random disjoint thirds of the corpus, each mined into (title -> abstract) pairs."""
    docs = list(dataset.corpus)
    random.Random(seed).shuffle(docs)
    splits = {}
    for index, site in enumerate(SITES):
        chunks = [TrainingChunk(d.doc_id, d.title, "", d.text, "manual") for d in docs[index :: len(SITES)]]
        pairs = mine_pairs(chunks, PairMiningSettings(max_pairs=max_pairs, seed=seed))
        splits[site] = split_pairs(pairs, val_fraction=0.1, seed=seed)
    return splits


def ndcg_at_10(model: Any, dataset: EvalDataset) -> float:
    """Dense retrieval over the whole corpus, top 100 per query, scored by ranx."""
    options: dict[str, Any] = {"batch_size": 64, "normalize_embeddings": True, "convert_to_numpy": True}
    docs = model.encode([f"{d.title}. {d.text}" for d in dataset.corpus], **options)
    queries = model.encode([q.text for q in dataset.queries], **options)
    scores = np.asarray(queries) @ np.asarray(docs).T
    run = {}
    for row, query in zip(scores, dataset.queries, strict=True):
        top = np.argsort(-row)[:100]
        run[query.query_id] = {dataset.corpus[i].doc_id: float(row[i]) for i in top}
    qrels = {q.query_id: dict(q.gold_doc_ids) for q in dataset.queries}
    return retrieval_metrics(run, qrels, ["ndcg@10"])["ndcg@10"]


def train_alone(model: Any, base: list[Any], pairs: Sequence[TrainingPair], config: TrainingConfig) -> None:
    set_weights(model, base)
    train_local(
        model,
        pairs,
        epochs=config.rounds * config.local_epochs,
        lr=config.learning_rate,
        batch_size=config.batch_size,
        seed=config.seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--max-pairs-per-site", type=int, default=200)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--top-layers", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--strategy", default="fedavg")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "federated_training.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    config = TrainingConfig(
        strategy=args.strategy,
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        learning_rate=args.learning_rate,
        max_seq_length=args.max_seq_length,
        train_top_layers=args.top_layers,
        min_sites=len(SITES),
        seed=args.seed,
    )
    splits = site_splits(dataset, args.max_pairs_per_site, args.seed)
    model = load_model(config.base_model, config.max_seq_length, config.train_top_layers)
    base = get_weights(model)
    results: dict[str, Any] = {"config": config.model_dump(mode="json"), "pairs": {}, "ndcg@10": {}, "seconds": {}}
    results["pairs"] = {site: len(split.train) for site, split in splits.items()}

    started = time.perf_counter()
    results["ndcg@10"]["base"] = ndcg_at_10(model, dataset)
    results["seconds"]["base"] = time.perf_counter() - started

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        paths = {site: save_pairs(Path(scratch) / f"{site}.jsonl", split) for site, split in splits.items()}
        federated = run_federated_training(paths, config, Path(scratch) / "run")
        fed_model = load_model(str(federated.model_dir), config.max_seq_length, config.train_top_layers)
        results["ndcg@10"]["federated"] = ndcg_at_10(fed_model, dataset)
        results["federated_version"] = federated.version
        results["bytes_uploaded"] = sum(sum(r.bytes_uploaded.values()) for r in federated.rounds)
    results["seconds"]["federated"] = time.perf_counter() - started

    started = time.perf_counter()
    train_alone(model, base, [p for split in splits.values() for p in split.train], config)
    results["ndcg@10"]["centralized"] = ndcg_at_10(model, dataset)
    results["seconds"]["centralized"] = time.perf_counter() - started

    single: dict[str, float] = {}
    started = time.perf_counter()
    for site, split in splits.items():
        train_alone(model, base, split.train, config)
        single[site] = ndcg_at_10(model, dataset)
    best = max(single, key=single.__getitem__)
    results["ndcg@10"]["best single site"] = single[best]
    results["single_sites"] = single
    results["seconds"]["single sites"] = time.perf_counter() - started

    print(
        f"Cranfield, {len(SITES)} sites, pairs per site {results['pairs']}, {args.strategy}, "
        f"{args.rounds} rounds, top {args.top_layers} layers"
    )
    print(f"{'system':<18} {'nDCG@10':>8}")
    for system, value in results["ndcg@10"].items():
        label = f"{system} ({best})" if system == "best single site" else system
        print(f"{label:<18} {value:>8.4f}")
    print(
        f"federated upload total: {results['bytes_uploaded'] / 1e6:.1f} MB; seconds: "
        + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items())
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
