"""The simulated federation of bench/feedback_training.py: the base model, the sites (k-means clusters of
the corpus), each site's feedback log built from judged queries, its pairs, and training as a site does."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script: its siblings are imported as bench.*
    sys.path.insert(0, str(_REPO))

from bench.federated_training import SITES, site_documents, site_splits  # noqa: E402
from bench.training_measures import PrefixCachedRetrieval  # noqa: E402
from eval.datasets import EvalDataset  # noqa: E402
from rag_fed.config import TrainingSettings  # noqa: E402
from rag_fed.feedback.log import FeedbackLog, NewJudgement  # noqa: E402
from rag_fed.training.feedback_pairs import FeedbackChunk, feedback_pairs, question_key  # noqa: E402
from rag_fed.training.model import get_weights, load_model, set_weights, train_local  # noqa: E402
from rag_fed.training.pairs import PairSplit, TrainingPair, split_pairs  # noqa: E402

__all__ = ["METRICS", "Bench", "train_rounds"]

METRICS = ("ndcg@10", "recall@100")


class Bench:
    """The dataset, the base model per number of trained layers (0: every weight, the word embeddings too),
    and retrieval with frozen layers cached."""

    def __init__(self, dataset: EvalDataset, args: argparse.Namespace) -> None:
        self.dataset, self.args = dataset, args
        self.models: dict[int, Any] = {}
        self.base: dict[int, list[Any]] = {}
        self.retrieval: dict[int, PrefixCachedRetrieval] = {}
        self.base_vectors = self.vectors_for(args.top_layers)[0]
        n_docs = len(dataset.corpus)
        self.doc_vectors, self.query_vectors = self.base_vectors[:n_docs], self.base_vectors[n_docs:]
        self.query_row = {question_key(q.text): i for i, q in enumerate(dataset.queries)}
        self.texts = [f"{d.title}. {d.text}" if d.title else d.text for d in dataset.corpus]
        self.groups = site_documents(dataset, "cluster", self.doc_vectors, args.seed)
        self.site_of_doc = {dataset.corpus[i].doc_id: k for k, group in enumerate(self.groups) for i in group}

    def model(self, layers: int) -> tuple[Any, list[Any]]:
        if layers not in self.models:
            self.models[layers] = load_model("packaged", self.args.max_seq_length, layers or None)
            self.base[layers] = get_weights(self.models[layers])
        set_weights(self.models[layers], self.base[layers])
        return self.models[layers], self.base[layers]

    def vectors_for(self, layers: int) -> tuple[np.ndarray, Any]:
        model, _ = self.model(layers)
        if layers not in self.retrieval:
            self.retrieval[layers] = PrefixCachedRetrieval(self.dataset, model, layers or None)
        return self.retrieval[layers].vectors(model), model

    def metrics(self, model: Any, layers: int, queries: Sequence[int]) -> dict[str, float]:
        retrieval = self.retrieval[layers]
        vectors = retrieval.vectors(model)
        found = retrieval.metrics_of(vectors, METRICS, queries)
        # Cranfield's qrels are graded 1-4; the issue's own measurement counted relevance as binary.
        found["ndcg@10 binary"] = retrieval.metrics_of(vectors, ("ndcg@10",), queries, binary=True)["ndcg@10"]
        return found

    # -- the simulated feedback logs -----------------------------------------------------------

    def logs(self, queries: Sequence[int], scratch: Path) -> dict[str, list[Any]]:
        """Each query's judgements, recorded in (and read back from) the log of the site it goes to."""
        judged: dict[str, list[NewJudgement]] = {site: [] for site in SITES}
        for position in queries:
            query = self.dataset.queries[position]
            at = Counter(self.site_of_doc[d] for d, grade in query.gold_doc_ids.items() if grade > 0)
            if not at:
                continue
            site = min(at, key=lambda k: (-at[k], k))
            relevant = {d for d in query.gold_doc_ids if self.site_of_doc[d] == site}
            group = self.groups[site]
            scores = self.doc_vectors[group] @ self.query_vectors[position]
            shown = [self.dataset.corpus[group[i]].doc_id for i in np.argsort(-scores)[: self.args.shown]]
            verdicts = [(d, True) for d in sorted(relevant)] + [(d, False) for d in shown if d not in relevant]
            judged[SITES[site]] += [
                NewJudgement(f"bench-{query.query_id}-{d}", query.text, d, "", useful, "base", "import:bench")
                for d, useful in verdicts
            ]
        logs = {}
        for name, judgements in judged.items():
            (scratch / name).mkdir(parents=True, exist_ok=True)
            log = FeedbackLog.at_site(scratch / name)
            log.record_many(judgements)
            logs[name] = list(log.all())
        return logs

    def splits(self, logs: dict[str, list[Any]], hard_negatives: int, source: str) -> dict[str, PairSplit]:
        """Each site's pairs from its log (plus its mined title -> abstract pairs for ``both``), split by query."""
        documents = site_splits(self.dataset, self.groups, _mining_args(self.args.seed)) if source == "both" else {}
        splits = {}
        for k, site in enumerate(SITES):
            group = self.groups[k]
            chunks = [FeedbackChunk(i, self.dataset.corpus[i].doc_id, self.texts[i]) for i in group]
            vectors = self.doc_vectors[group]

            def score(questions: Sequence[str], vectors: np.ndarray = vectors) -> np.ndarray:
                rows = [self.query_row[question_key(q)] for q in questions]
                result: np.ndarray = self.query_vectors[rows] @ vectors.T
                return result

            built = feedback_pairs(logs[site], chunks, score, hard_negatives=hard_negatives)
            pairs: list[TrainingPair] = list(built.pairs)
            if site in documents:
                pairs += list(documents[site].train + documents[site].val)
            splits[site] = split_pairs(pairs, val_fraction=0.1, seed=self.args.seed)
        return splits


def train_rounds(
    model: Any, base: list[Any], pairs: Sequence[TrainingPair], config: TrainingSettings, after: Any = None
) -> float:
    """Train as a site does in ``config.rounds`` rounds; ``after(round)`` is called after each one."""
    set_weights(model, base)
    started = time.perf_counter()
    for number in range(1, config.rounds + 1):
        train_local(
            model,
            pairs,
            epochs=config.local_epochs,
            lr=config.learning_rate,
            batch_size=config.batch_size,
            seed=config.seed + number,
            loss=config.loss,
        )
        if after is not None:
            after(number)
    return time.perf_counter() - started


def _mining_args(seed: int) -> argparse.Namespace:
    return argparse.Namespace(seed=seed, max_pairs_per_site=0, strip_title=False, sentence_pairs=0)
