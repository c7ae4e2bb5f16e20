"""Answers an engineer can trust, measured on real processes: 3 site services and a gateway on
loopback (federated) beside one site holding every document (centralized), asked through the
gateway with the official openai client, streamed.

Configs, each on both topologies, in one run:
- ``top-passage``: the first 60 words of the best fused passage (``POST /v1/query``, no model): the
  baseline every answer path must beat;
- ``extractive``: the evidence the sites cut from their passages, ranked across sites, no model;
- ``grounded`` (the default path): a model's checked lead, within its time budget, over that evidence.

Token F1 and answer-contains count a refused answerable question as 0; citation and support metrics are
over the answers given. Question sets: the sample federation's maintenance questions (answerable, with
expected strings and gold sections) and its unanswerable ones; the Galaxy S10 manual
(``../shared/datasets/emanual_s10``, split ``cluster:3``) with its 50 questions and
``eval_sets/s10_unanswerable.jsonl``. Metrics per config: token F1 and answer-contains (answerable),
citation precision and recall (against gold sections or documents), the share of answer sentences the
cited evidence supports, values in answers that no cited text holds, refusal precision/recall and the
answered rate, time to first token and to the full answer.

    .venv/bin/python bench/answers.py [--sets sample s10] [--configs top-passage extractive grounded]
        [--max-questions N] [--out results.json] [--answers answers.json]

``--answers`` writes every question's answer text per set, topology and config (to read what a
config showed, not only its scores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._answer_sets import AnswerCase, mean_or_nan, s10_cases, sample_cases  # noqa: E402
from bench._chat import stream_chat  # noqa: E402
from bench._services import federation  # noqa: E402
from eval._text import strip_citations  # noqa: E402
from eval.answer_metrics import RefusalCounts, contains_all, invented_values, supported_share  # noqa: E402
from eval.metrics import token_f1  # noqa: E402
from rag_fed.answers.ranking import cited_source  # noqa: E402
from rag_fed.types import Citation, Evidence  # noqa: E402

CONFIGS = ("top-passage", "extractive", "grounded")
TOP_PASSAGE_WORDS = 60


@dataclass
class Outcome:
    """One question asked in one config."""

    text: str
    citations: list[Citation]
    cited_texts: list[str]
    refused: bool
    first_s: float
    total_s: float


@dataclass
class Tally:
    f1: list[float] = field(default_factory=list)
    contains: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    supported: list[float] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    refusals: RefusalCounts = field(default_factory=RefusalCounts)
    answers: list[dict[str, object]] = field(default_factory=list)
    """Each question's answer as shown, for ``--answers``."""

    def add(self, case: AnswerCase, outcome: Outcome) -> None:
        self.answers.append(
            {"question": case.question, "answerable": case.answerable, "refused": outcome.refused, "text": outcome.text}
        )
        self.first.append(outcome.first_s)
        self.total.append(outcome.total_s)
        self.refusals.add(case.answerable, outcome.refused)
        if not case.answerable:
            return
        # A refused answerable question is a miss, not a question left out: it scores 0.
        words = "" if outcome.refused else strip_citations(outcome.text)
        self.f1.append(token_f1(words, case.answer) if words else 0.0)
        if case.expected:
            self.contains.append(contains_all(words, case.expected) if words else 0.0)
        if outcome.refused:
            return
        correct = [case.cites_gold(citation) for citation in outcome.citations]
        self.precision.append(sum(correct) / len(correct) if correct else 0.0)
        self.recall.append(case.gold_recall(outcome.citations))
        self.supported.append(supported_share(outcome.text, outcome.cited_texts))
        self.invented.extend(invented_values(outcome.text, outcome.cited_texts))

    def row(self) -> dict[str, float]:
        return {
            "token_f1": mean_or_nan(self.f1),
            "answer_contains": mean_or_nan(self.contains),
            "citation_precision": mean_or_nan(self.precision),
            "citation_recall": mean_or_nan(self.recall),
            "supported_share": mean_or_nan(self.supported),
            "invented_values": float(len(self.invented)),
            "refusal_precision": self.refusals.precision,
            "refusal_recall": self.refusals.recall,
            "answered_rate": self.refusals.answered_rate,
            "ttft_p50_s": float(np.percentile(self.first, 50)),
            "ttft_p95_s": float(np.percentile(self.first, 95)),
            "total_p50_s": float(np.percentile(self.total, 50)),
            "total_p95_s": float(np.percentile(self.total, 95)),
        }


def ask_chat(client: object, question: str, strategy: str) -> Outcome:
    """Stream one chat answer with the official openai client and time it."""
    streamed = stream_chat(client, question, {"strategy": strategy})
    extras = streamed.extras
    citations = [Citation.model_validate(c) for c in extras.get("citations", [])]
    texts = [cited_source(Evidence.model_validate(item)) for item in extras.get("evidence", [])]
    return Outcome(streamed.text, citations, texts, bool(extras.get("refused")), streamed.first_s, streamed.total_s)


def ask_top_passage(http: httpx.Client, question: str) -> Outcome:
    started = time.perf_counter()
    response = http.post("/v1/query", json={"question": question, "want_answer": False})
    response.raise_for_status()
    total = time.perf_counter() - started
    passages = response.json()["passages"]
    if not passages:
        return Outcome("", [], [], True, total, total)
    best = passages[0]
    citation = Citation.model_validate(best["citation"])
    text = " ".join(best["text"].split()[:TOP_PASSAGE_WORDS])
    return Outcome(f"{text} {citation.label}", [citation], [best["text"]], False, total, total)


def run_topology(
    name: str, site_dirs: dict[str, Path], cases: Sequence[AnswerCase], configs: Sequence[str], tmp: Path
) -> dict[str, Tally]:
    """Serve ``site_dirs`` (site id -> its data dir, already ingested) behind a gateway and ask."""
    from openai import OpenAI

    tallies = {config_name: Tally() for config_name in configs}
    with federation(name, site_dirs, tmp) as running:
        client = OpenAI(base_url=f"{running.gateway_url}/v1", api_key=running.key, timeout=120, max_retries=0)
        headers = {"Authorization": f"Bearer {running.key}"}
        with httpx.Client(base_url=running.gateway_url, headers=headers, timeout=120) as http:
            ask_chat(client, "warm-up: what is the pump?", "extractive")  # loads models once
            for case in cases:
                for config_name in configs:
                    if config_name == "top-passage":
                        outcome = ask_top_passage(http, case.question)
                    else:
                        outcome = ask_chat(client, case.question, config_name)
                    tallies[config_name].add(case, outcome)
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["sample", "s10"], choices=["sample", "s10"])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--topologies", nargs="+", default=["centralized", "federated"])
    parser.add_argument("--max-questions", type=int, default=None, help="per set and kind (answerable/not)")
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--answers", type=Path, default=None, help="write every answer's text here (JSON)")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    answers: dict[str, list[dict[str, object]]] = {}
    with tempfile.TemporaryDirectory(prefix="ragfed-answers-") as scratch:
        tmp = Path(scratch)
        for set_name in args.sets:
            build = sample_cases if set_name == "sample" else s10_cases
            cases, topologies = build(tmp / set_name, args.datasets, args.max_questions)
            for topology in args.topologies:
                started = time.perf_counter()
                tallies = run_topology(f"{set_name}-{topology}", topologies[topology], cases, args.configs, tmp)
                for config_name, tally in tallies.items():
                    results[f"{set_name} {topology} {config_name}"] = tally.row()
                    answers[f"{set_name} {topology} {config_name}"] = tally.answers
                print(f"{set_name} {topology}: {len(cases)} questions in {time.perf_counter() - started:.0f} s")
    print(f"\n{'set topology config':<34}" + "".join(f"{k[:12]:>13}" for k in next(iter(results.values()))))
    for label, row in results.items():
        print(f"{label:<34}" + "".join(f"{value:>13.3f}" for value in row.values()))
    for label, row in results.items():
        if label.endswith("top-passage"):
            continue
        base = results.get(label.rsplit(" ", 1)[0] + " top-passage")
        if base and base["token_f1"] > 0:
            print(f"{label}: token F1 ratio to top-passage {row['token_f1'] / base['token_f1']:.3f}")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))
    if args.answers is not None:
        args.answers.write_text(json.dumps(answers, indent=2))


if __name__ == "__main__":
    main()
