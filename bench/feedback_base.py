"""Why the base model's held-out nDCG@10 differs between measurements (issue 15: 0.391 there, 0.3753 in
bench/feedback_training.py): the same shipped all-MiniLM-L6-v2 scored under each evaluation choice.

Choices varied, one at a time from bench/feedback_training.py's: tokens kept per passage (128 there, 256
the model's own default), passage text ("title. text" there, BEIR's "title text", the abstract alone),
relevance (Cranfield's graded qrels 1-4 by ranx there, or binary as sentence-transformers'
InformationRetrievalEvaluator counts them), and which half of the seeded shuffle is held out. No training:
one encoding of the corpus per (tokens, text) pair.

    .venv/bin/python -u bench/feedback_base.py [--out bench/results/feedback_base.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script: its siblings are imported as bench.*
    sys.path.insert(0, str(_REPO))

from bench.federated_training import REPO  # noqa: E402
from eval.datasets import EvalDataset, load_beir  # noqa: E402
from eval.metrics import retrieval_metrics  # noqa: E402
from rag_fed.training.model import load_model  # noqa: E402

TEXTS: dict[str, Callable[[str, str], str]] = {
    "title. text": lambda title, text: f"{title}. {text}" if title else text,
    "title text": lambda title, text: f"{title} {text}" if title else text,
    "text only": lambda title, text: text,
}


def scores(dataset: EvalDataset, seq_length: int, text: str) -> tuple[np.ndarray, float]:
    model: Any = load_model("packaged", seq_length, None)  # a SentenceTransformer (untyped)
    started = time.perf_counter()
    join = TEXTS[text]
    docs = model.encode([join(d.title, d.text) for d in dataset.corpus], batch_size=32, normalize_embeddings=True)
    queries = model.encode([q.text for q in dataset.queries], batch_size=64, normalize_embeddings=True)
    return np.asarray(queries) @ np.asarray(docs).T, time.perf_counter() - started


def metrics(dataset: EvalDataset, matrix: np.ndarray, chosen: list[int], binary: bool) -> dict[str, float]:
    run, qrels = {}, {}
    for position in chosen:
        query, row = dataset.queries[position], matrix[position]
        top = np.argsort(-row)[:100]
        run[query.query_id] = {dataset.corpus[i].doc_id: float(row[i]) for i in top}
        qrels[query.query_id] = {d: (1 if binary else g) for d, g in query.gold_doc_ids.items() if g > 0}
    found = retrieval_metrics(run, qrels, ["ndcg@10", "recall@100"])
    return {name: float(value) for name, value in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "feedback_base.json")
    args = parser.parse_args()
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    order = list(range(len(dataset.queries)))
    random.Random(args.seed).shuffle(order)
    halves = {"held-out half": order[len(order) // 2 :], "training half": order[: len(order) // 2], "all": order}
    rows: list[dict[str, Any]] = []
    for seq_length, text in ((128, "title. text"), (256, "title. text"), (256, "title text"), (256, "text only")):
        matrix, seconds = scores(dataset, seq_length, text)
        for binary in (False, True):
            for half, chosen in halves.items():
                found = metrics(dataset, matrix, chosen, binary)
                row = {
                    "tokens": seq_length,
                    "text": text,
                    "relevance": "binary" if binary else "graded",
                    "queries": half,
                }
                rows.append({**row, "queries_n": len(chosen), **found})
                print(
                    f"  {seq_length} tokens, {text:11s}, {row['relevance']:6s}, {half:13s} ({len(chosen)}): "
                    f"nDCG@10 {found['ndcg@10']:.4f}, Recall@100 {found['recall@100']:.4f}",
                    flush=True,
                )
        print(f"  (encoding took {seconds:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
