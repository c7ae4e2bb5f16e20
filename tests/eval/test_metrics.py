"""Metrics against hand-computed values: ranking metrics through ranx, SQuAD-style answer metrics."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    answer_contains,
    citation_precision,
    distribution_summary,
    exact_match,
    latency_summary,
    retrieval_metrics,
    retrieval_metrics_per_query,
    token_f1,
)

pytestmark = pytest.mark.unit

QRELS = {"q1": {"d1": 2, "d3": 1}, "q2": {"d4": 1}, "q3": {"d9": 1}}
RUN = {"q1": {"d2": 0.9, "d1": 0.8, "d3": 0.7}, "q2": {"d5": 0.9, "d6": 0.1}}

# q1, ranking d2 (grade 0), d1 (grade 2), d3 (grade 1), linear gains, log2(rank + 1) discounts:
#   DCG  = 0/log2(2) + 2/log2(3) + 1/log2(4) = 1.261860 + 0.5      = 1.761860
#   IDCG = 2/log2(2) + 1/log2(3)             = 2       + 0.630930 = 2.630930
#   nDCG@10 = 0.669672; first relevant at rank 2 -> RR = 0.5; both relevant found -> recall 1.
Q1_NDCG = (2 / math.log2(3) + 1 / math.log2(4)) / (2 + 1 / math.log2(3))


def test_per_query_values_match_hand_computation() -> None:
    per_query = retrieval_metrics_per_query(RUN, QRELS)
    assert per_query["ndcg@10"]["q1"] == pytest.approx(Q1_NDCG, abs=1e-6)
    assert per_query["ndcg@10"]["q1"] == pytest.approx(0.669672, abs=1e-6)
    assert per_query["mrr@10"]["q1"] == pytest.approx(0.5)
    assert per_query["recall@10"]["q1"] == pytest.approx(1.0)
    # q2 retrieves nothing relevant; q3 is absent from the run: both score 0 everywhere.
    for metric in per_query:
        assert per_query[metric]["q2"] == 0.0
        assert per_query[metric]["q3"] == 0.0


def test_means_average_over_every_judged_query() -> None:
    means = retrieval_metrics(RUN, QRELS)
    assert set(means) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    assert means["ndcg@10"] == pytest.approx(Q1_NDCG / 3, abs=1e-6)
    assert means["mrr@10"] == pytest.approx(0.5 / 3)
    assert means["recall@100"] == pytest.approx(1 / 3)


def test_cutoff_and_non_relevant_grades() -> None:
    # Grade 0 judgements are not relevant; a query with only those is not evaluated at all.
    qrels = {"q1": {"d1": 2, "d3": 1}, "q0": {"d2": 0}}
    per_query = retrieval_metrics_per_query(RUN, qrels, ["recall@2", "mrr@1"])
    assert per_query["recall@2"] == {"q1": pytest.approx(0.5)}  # only d1 of {d1, d3} in the top 2
    assert per_query["mrr@1"] == {"q1": 0.0}


def test_empty_inputs() -> None:
    assert retrieval_metrics({}, QRELS)["ndcg@10"] == 0.0
    assert retrieval_metrics(RUN, {}) == {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("The Cat!", "cat", 1.0),
        ("  an  answer.", "Answer", 1.0),
        ("cat sat", "cat", 0.0),
        ("", "", 1.0),
        ("", "cat", 0.0),
    ],
)
def test_exact_match(prediction: str, gold: str, expected: float) -> None:
    assert exact_match(prediction, gold) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        # [cat, sat] vs [cat, sat, down]: P = 1, R = 2/3, F1 = 0.8
        ("the cat sat", "a cat sat down", 0.8),
        # repeated tokens count once per occurrence: [hose, hose] vs [hose]: P = 1/2, R = 1 -> 2/3
        ("hose hose", "hose", 2 / 3),
        ("pump", "valve", 0.0),
        ("", "", 1.0),
        ("the", "valve", 0.0),  # normalises to no tokens
        ("Don't!", "dont", 1.0),  # punctuation is deleted, as in SQuAD
    ],
)
def test_token_f1(prediction: str, gold: str, expected: float) -> None:
    assert token_f1(prediction, gold) == pytest.approx(expected)


def test_answer_contains_whole_tokens_only() -> None:
    assert answer_contains("Replace the hydraulic hose now.", "hydraulic hose") == 1.0
    assert answer_contains("replace hoses", "hose") == 0.0
    assert answer_contains("anything", "the") == 0.0


def test_citation_precision() -> None:
    gold = "Replace the hydraulic hose"  # key tokens {replace, hydraulic, hose}
    cited = ["Hydraulic hose leaking; replace.", "check the hose"]  # 3/3 supports, 1/3 does not
    assert citation_precision(cited, gold) == pytest.approx(0.5)
    assert citation_precision(cited, gold, min_coverage=0.3) == pytest.approx(1.0)
    assert citation_precision([], gold) == 0.0
    assert citation_precision(cited, "") == 0.0
    with pytest.raises(ValueError, match="min_coverage"):
        citation_precision(cited, gold, min_coverage=0.0)


def test_latency_summary_per_stage() -> None:
    timings = [{"embed": float(ms), "search": 2.0} for ms in range(1, 101)] + [{"search": 4.0}]
    summary = latency_summary(timings)
    assert summary["embed"]["p50"] == pytest.approx(50.5)
    assert summary["embed"]["p95"] == pytest.approx(95.05)
    assert summary["embed"]["n"] == 100
    assert summary["search"]["n"] == 101
    assert summary["search"]["max"] == 4.0
    assert distribution_summary([])["n"] == 0.0
