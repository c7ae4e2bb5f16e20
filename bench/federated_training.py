"""Federated fine-tuning benchmark: how much of the centralised gain does federated training keep, with
and without local DP, and what do communication-adaptive uploads save?

Cranfield (1,400 aeronautics abstracts, 225 judged queries) is split into three sites (``--split
cluster``: k-means on the base model's document embeddings, so each site has its own topics; or
``random`` thirds). Each site mines (title -> abstract) pairs from its own documents; the judged
queries are never trained on. ``--dataset emanual_s10`` runs the same on the Galaxy S10 manual (451
sections, 50 questions): (section heading -> section text) pairs. All numbers come from one run, so the
ratios compare like with like:

* base           all-MiniLM-L6-v2 as shipped
* federated      ``run_federated_training`` over the three sites (Flower simulation, ``--strategy``)
* centralized    the same local training on the pooled pairs (the upper bound FL cannot see)
* best site      the best of three models each trained on one site's pairs alone
* federated+DP   local DP (LocalDpMod) with the noise chosen so epsilon <= ``--dp-epsilon`` per site
* adaptive       the federated run with communication-adaptive uploads

Centralised and single-site training make ``rounds * local_epochs`` passes over their pairs, as the
federated sites do. Evaluation is dense retrieval over the whole corpus, nDCG@10 by ranx. Since only
the top ``--top-layers`` layers train, the frozen lower layers' outputs are computed once and reused
for every model (checked against ``model.encode`` at start-up).

    .venv/bin/python -u bench/federated_training.py [--rounds 3] [--max-pairs-per-site 0 (all)] \
        [--learning-rate 2e-5] [--split cluster] [--dp-epsilon 8] [--out bench/results/federated_training.json]
    .venv/bin/python -u bench/federated_training.py --only centralized --rounds 1   # probe: base vs central
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script: its siblings are imported as bench.*
    sys.path.insert(0, str(_REPO))

from bench.training_measures import PrefixCachedRetrieval, command_line, start_measuring  # noqa: E402
from eval.datasets import EvalDataset, load_beir  # noqa: E402
from rag_fed.config import AdaptiveSettings, PairMiningSettings, TrainingSettings  # noqa: E402
from rag_fed.training.ledger import RoundRecord  # noqa: E402
from rag_fed.training.model import get_weights, load_model, set_weights, train_local  # noqa: E402
from rag_fed.training.pairs import (  # noqa: E402
    PairSplit,
    TrainingChunk,
    TrainingPair,
    mine_pairs,
    save_pairs,
    split_pairs,
)
from rag_fed.training.privacy import noise_for_epsilon  # noqa: E402
from rag_fed.training.run import TrainingResult, run_federated_training  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SITES = ("site-1", "site-2", "site-3")


# -- data ----------------------------------------------------------------------------------------


def site_documents(dataset: EvalDataset, split: str, doc_vectors: np.ndarray, seed: int) -> list[list[int]]:
    """Indices of each site's documents: k-means clusters of the base embeddings, or random thirds."""
    order = list(range(len(dataset.corpus)))
    if split == "random":
        random.Random(seed).shuffle(order)
        return [order[i :: len(SITES)] for i in range(len(SITES))]
    rng = np.random.default_rng(seed)
    centres = doc_vectors[rng.choice(len(order), len(SITES), replace=False)]
    for _ in range(50):
        labels = np.argmax(doc_vectors @ centres.T, axis=1)
        centres = np.stack([doc_vectors[labels == k].mean(axis=0) for k in range(len(SITES))])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return [[i for i in order if labels[i] == k] for k in range(len(SITES))]


def shrink(dataset: EvalDataset, max_docs: int) -> EvalDataset:
    """The first ``max_docs`` documents and the queries judged on them (for a quick smoke run)."""
    corpus = dataset.corpus[:max_docs]
    kept = {doc.doc_id for doc in corpus}
    queries = [
        replace(query, gold_doc_ids={d: g for d, g in query.gold_doc_ids.items() if d in kept})
        for query in dataset.queries
        if any(d in kept for d in query.gold_doc_ids)
    ]
    return replace(dataset, corpus=corpus, queries=queries)


def site_splits(dataset: EvalDataset, groups: list[list[int]], args: argparse.Namespace) -> dict[str, PairSplit]:
    """Each site's (title -> abstract) pairs, plus ``--sentence-pairs`` (sentence -> rest of the abstract)
    per document; ``--max-pairs-per-site`` 0 = all. Cranfield's abstracts open with their title;
    ``--strip-title`` cuts that copy from the positive."""
    splits = {}
    seed = args.seed
    mining = PairMiningSettings(
        max_pairs=args.max_pairs_per_site or None,
        seed=seed,
        min_query_chars=8,
        strip_query_prefix=args.strip_title,
        sentence_pairs=args.sentence_pairs,
    )
    for site, indices in zip(SITES, groups, strict=True):
        docs = [dataset.corpus[i] for i in indices]
        chunks = [TrainingChunk(d.doc_id, d.title, "", d.text, "manual") for d in docs]
        pairs = mine_pairs(chunks, mining)
        splits[site] = split_pairs(pairs, val_fraction=0.1, seed=seed)
    return splits


def federated(
    name: str,
    splits: dict[str, PairSplit],
    config: TrainingSettings,
    scratch: Path,
    evaluate: Callable[[Path], dict[str, float]],
    report: dict[str, Any],
) -> TrainingResult:
    paths = {site: save_pairs(scratch / name / f"{site}.jsonl", split) for site, split in splits.items()}
    ends: list[float] = []
    started = time.perf_counter()

    def on_round(record: RoundRecord) -> None:
        ends.append(time.perf_counter())
        sent = sum(record.bytes_uploaded.values())
        print(f"  {name} round {record.round}: {ends[-1] - started:.0f} s, uploaded {sent / 1e6:.1f} MB", flush=True)

    result = run_federated_training(paths, config, scratch / name / "run", num_cpus=2, on_round=on_round)
    for metric, value in evaluate(result.model_dir).items():
        report.setdefault(metric, {})[name] = value
    report.setdefault("rounds", {})[name] = [
        {
            "round": r.round,
            "sites": r.sites,
            "skipped": r.skipped,
            "bytes_uploaded": sum(r.bytes_uploaded.values()),
            "bytes_saved": r.bytes_saved,
            "epsilon": r.epsilon,
        }
        for r in result.rounds
    ]
    report.setdefault("seconds_per_round", {})[name] = [b - a for a, b in zip([started, *ends], ends, strict=False)]
    return result


def train_alone(model: Any, base: list[Any], pairs: Sequence[TrainingPair], config: TrainingSettings) -> float:
    set_weights(model, base)
    started = time.perf_counter()
    train_local(
        model,
        pairs,
        epochs=config.rounds * config.local_epochs,
        lr=config.learning_rate,
        batch_size=config.batch_size,
        seed=config.seed,
        loss=config.loss,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--dataset", default="cranfield", help="a BEIR folder under --datasets (or emanual_s10)")
    parser.add_argument("--split", choices=["cluster", "random"], default="cluster")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--max-pairs-per-site", type=int, default=0, help="0 = every document")
    parser.add_argument("--strip-title", action="store_true", help="cut the title the abstract opens with")
    parser.add_argument("--sentence-pairs", type=int, default=0, help="inverse cloze pairs per abstract")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--top-layers", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--strategy", default="fedavg")
    parser.add_argument("--dp-epsilon", type=float, default=8.0)
    parser.add_argument("--dp-clip", type=float, default=0.05)
    parser.add_argument("--adaptive-threshold", type=float, default=0.02, help="val MRR@10 move that triggers upload")
    parser.add_argument("--adaptive-norm-jump", type=float, default=1.5)
    parser.add_argument("--max-docs", type=int, default=None, help="smoke test: the first N documents only")
    parser.add_argument("--skip", default="", help="comma list of: dp, adaptive, single")
    parser.add_argument(
        "--only", choices=["centralized"], default=None, help="probe: base and centralized only (minutes, no Flower)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "federated_training.json")
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    memory, wall = start_measuring()
    dataset = load_beir(args.datasets / args.dataset / "beir")
    if args.max_docs:
        dataset = shrink(dataset, args.max_docs)
    config = TrainingSettings(
        strategy=args.strategy,
        rounds=args.rounds,
        local_epochs=args.local_epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        train_top_layers=args.top_layers,
        min_sites=len(SITES),
        seed=args.seed,
    )
    model = load_model(config.base_model, config.max_seq_length, config.train_top_layers)
    base = get_weights(model)
    report: dict[str, Any] = {
        "command": command_line("federated_training.py", args),
        "config": config.model_dump(mode="json"),
        "ndcg@10": {},
        "rounds": {},
        "seconds_per_round": {},
        "seconds": {},
        "load_average_start": os.getloadavg(),
    }
    started = time.perf_counter()
    retrieval = PrefixCachedRetrieval(dataset, model, config.train_top_layers or 6)
    report["prefix_cache_max_abs_diff"] = retrieval.check(model)
    vectors = retrieval.vectors(model)
    report["ndcg@10"]["base"] = retrieval.ndcg_of(vectors)
    report["seconds"]["base evaluation (with cache build)"] = time.perf_counter() - started
    groups = site_documents(dataset, args.split, vectors[: len(dataset.corpus)], args.seed)
    splits = site_splits(dataset, groups, args)
    report["documents_per_site"] = {site: len(g) for site, g in zip(SITES, groups, strict=True)}
    report["train_pairs_per_site"] = {site: len(split.train) for site, split in splits.items()}
    print(
        f"base nDCG@10 {report['ndcg@10']['base']:.4f}; sites {report['documents_per_site']} docs, "
        f"{report['train_pairs_per_site']} train pairs; cache check {report['prefix_cache_max_abs_diff']:.1e}",
        flush=True,
    )

    def evaluate_folder(folder: Path) -> dict[str, float]:
        trained = load_model(str(folder), config.max_seq_length, config.train_top_layers)
        return {"ndcg@10": retrieval.ndcg(trained)}

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        if args.only is None:
            started = time.perf_counter()
            federated("federated", splits, config, scratch, evaluate_folder, report)
            report["seconds"]["federated"] = time.perf_counter() - started

        started = time.perf_counter()
        report["seconds"]["centralized training"] = train_alone(
            model, base, [p for split in splits.values() for p in split.train], config
        )
        report["ndcg@10"]["centralized"] = retrieval.ndcg(model)
        report["seconds"]["centralized"] = time.perf_counter() - started

        if args.only == "centralized":
            skip |= {"single", "dp", "adaptive"}
        if "single" not in skip:
            started = time.perf_counter()
            single = {}
            for site, split in splits.items():
                train_alone(model, base, split.train, config)
                single[site] = retrieval.ndcg(model)
            best = max(single, key=single.__getitem__)
            report["single_sites"] = single
            report["best_single_site"] = best
            report["ndcg@10"]["best single site"] = single[best]
            report["seconds"]["single sites"] = time.perf_counter() - started

        if "dp" not in skip:
            privacy = noise_for_epsilon(args.dp_epsilon, config.rounds, args.dp_clip, 1e-5)
            report["dp"] = privacy.model_dump()
            started = time.perf_counter()
            dp_config = config.model_copy(update={"privacy": privacy})
            result = federated("federated+DP", splits, dp_config, scratch, evaluate_folder, report)
            report["dp_epsilon_per_site"] = result.rounds[-1].epsilon
            report["seconds"]["federated+DP"] = time.perf_counter() - started

        if "adaptive" not in skip:
            adaptive = AdaptiveSettings(
                metric_threshold=args.adaptive_threshold,
                norm_jump_factor=args.adaptive_norm_jump,
                min_report_fraction=0.3,
            )
            started = time.perf_counter()
            federated(
                "adaptive",
                splits,
                config.model_copy(update={"adaptive_uploads": True, "adaptive": adaptive}),
                scratch,
                evaluate_folder,
                report,
            )
            report["seconds"]["adaptive"] = time.perf_counter() - started

    report["peak_memory_gib"] = memory.stop() / 2**30
    report["wall_seconds"] = time.perf_counter() - wall
    report["load_average_end"] = os.getloadavg()
    report["summary"] = summarise(report)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    ndcg = report["ndcg@10"]
    gain = ndcg["centralized"] - ndcg["base"]
    summary: dict[str, Any] = {"centralized gain": gain}
    for name in ("federated", "federated+DP", "best single site"):
        if name in ndcg:
            summary[f"{name} share of centralized gain"] = (ndcg[name] - ndcg["base"]) / gain if gain else None
    if "adaptive" in report["rounds"]:
        full = sum(r["bytes_uploaded"] for r in report["rounds"]["federated"])
        sent = sum(r["bytes_uploaded"] for r in report["rounds"]["adaptive"])
        summary["adaptive bytes / full bytes"] = sent / full if full else None
        summary["adaptive nDCG@10 change (points)"] = 100 * (ndcg["adaptive"] - ndcg["federated"])
    return summary


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{'system':<20} {'nDCG@10':>8}")
    for system, value in report["ndcg@10"].items():
        label = f"{system} ({report.get('best_single_site')})" if system == "best single site" else system
        print(f"{label:<20} {value:>8.4f}")
    print("\nbytes uploaded per round (MB):")
    for name, rounds in report["rounds"].items():
        print(f"  {name:<14} " + ", ".join(f"{r['bytes_uploaded'] / 1e6:.1f}" for r in rounds))
    print("\nseconds per round:")
    for name, seconds in report["seconds_per_round"].items():
        print(f"  {name:<14} " + ", ".join(f"{s:.0f}" for s in seconds))
    print("\n" + json.dumps(report["summary"], indent=2))
    print(
        f"peak memory {report['peak_memory_gib']:.1f} GiB; wall {report['wall_seconds']:.0f} s; "
        f"load average start {report['load_average_start']}, end {report['load_average_end']}"
    )


if __name__ == "__main__":
    main()
