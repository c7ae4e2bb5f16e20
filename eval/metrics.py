"""Evaluation metrics: ranking quality (via ranx), answer quality (SQuAD-style), latency summaries.

Ranking metrics are ranx's (tested by its authors against trec_eval); nothing here re-implements them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from eval._text import STOPWORDS, answer_tokens, normalize_answer

__all__ = [
    "RETRIEVAL_METRICS",
    "answer_contains",
    "citation_precision",
    "distribution_summary",
    "exact_match",
    "latency_summary",
    "retrieval_metrics",
    "retrieval_metrics_per_query",
    "token_f1",
]

RETRIEVAL_METRICS: tuple[str, ...] = ("ndcg@10", "recall@10", "recall@100", "mrr@10")

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def retrieval_metrics_per_query(
    run: Run, qrels: Qrels, metrics: Sequence[str] = RETRIEVAL_METRICS
) -> dict[str, dict[str, float]]:
    """Per-query scores ``{metric: {query_id: value}}`` for every query with a relevant document.

    Metric names are ranx's (``ndcg@10`` is Järvelin-Kekäläinen nDCG with linear gain). Judgements with
    grade <= 0 are ignored; a query absent from ``run`` or with no results scores 0 on every metric.
    Documents are ranked by descending score as ranx does, so pass strictly decreasing scores when the
    order itself matters (ties are ordered by ranx, not by you).
    """
    from ranx import Qrels as RanxQrels
    from ranx import Run as RanxRun
    from ranx import evaluate

    judged = {
        query_id: {doc_id: int(grade) for doc_id, grade in grades.items() if grade > 0}
        for query_id, grades in qrels.items()
    }
    judged = {query_id: grades for query_id, grades in judged.items() if grades}
    scores: dict[str, dict[str, float]] = {metric: dict.fromkeys(judged, 0.0) for metric in metrics}
    answered = {
        query_id: {doc_id: float(score) for doc_id, score in run[query_id].items()}
        for query_id in judged
        if run.get(query_id)
    }
    if not answered or not metrics:
        return scores
    ranx_run = RanxRun(answered)
    with warnings.catch_warnings():
        # ranx's compiled nDCG casts its uint64 counters; harmless at our sizes, noisy in every run.
        warnings.filterwarnings("ignore", message="unsafe cast from uint64 to int64")
        evaluate(RanxQrels({query_id: judged[query_id] for query_id in answered}), ranx_run, list(metrics))
    for metric in metrics:
        for query_id, value in ranx_run.scores[metric].items():
            scores[metric][query_id] = float(value)
    return scores


def retrieval_metrics(run: Run, qrels: Qrels, metrics: Sequence[str] = RETRIEVAL_METRICS) -> dict[str, float]:
    """Mean of each metric over the queries of ``qrels`` that have a relevant document (see per-query)."""
    per_query = retrieval_metrics_per_query(run, qrels, metrics)
    return {metric: float(np.mean(list(values.values()))) if values else 0.0 for metric, values in per_query.items()}


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the answers are equal after SQuAD normalisation, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 on normalised tokens (bag of tokens); 1.0 if both are empty, 0.0 if only one is."""
    predicted, expected = answer_tokens(prediction), answer_tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_contains(prediction: str, gold: str) -> float:
    """1.0 if the normalised gold answer occurs in the normalised prediction as whole tokens, else 0.0.

    An empty (after normalisation) gold answer scores 0.0: it cannot be checked.
    """
    expected = normalize_answer(gold)
    return float(bool(expected) and f" {expected} " in f" {normalize_answer(prediction)} ")


def _key_tokens(gold: str) -> set[str]:
    tokens = set(answer_tokens(gold))
    return (tokens - STOPWORDS) or tokens


def citation_precision(cited_texts: Sequence[str], gold: str, min_coverage: float = 0.5) -> float:
    """Share of cited passages that support the gold answer.

    Key tokens K = the gold answer's normalised tokens (SQuAD normalisation) minus a short English stop
    list (all its tokens if that leaves none). A cited passage P supports the answer when
    ``|K ∩ tokens(P)| / |K| >= min_coverage``. The result is (#supporting passages) / (#cited passages);
    it is 0.0 when nothing is cited or when the gold answer has no tokens.
    """
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    keys = _key_tokens(gold)
    if not cited_texts or not keys:
        return 0.0
    supporting = sum(len(keys & set(answer_tokens(text))) / len(keys) >= min_coverage for text in cited_texts)
    return supporting / len(cited_texts)


def distribution_summary(values: Iterable[float]) -> dict[str, float]:
    """``n``, ``mean``, ``p50``, ``p95`` and ``max`` of the values (linear-interpolated percentiles)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {"n": 0.0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}
    return {
        "n": float(array.size),
        "mean": float(array.mean()),
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "max": float(array.max()),
    }


def latency_summary(timings: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Per-stage :func:`distribution_summary` of per-query timings ``[{stage: milliseconds}, ...]``.

    A stage missing from some queries is summarised over the queries that report it.
    """
    by_stage: dict[str, list[float]] = {}
    for sample in timings:
        for stage, milliseconds in sample.items():
            by_stage.setdefault(stage, []).append(float(milliseconds))
    return {stage: distribution_summary(values) for stage, values in sorted(by_stage.items())}
