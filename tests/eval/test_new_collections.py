"""Collections new to the harness (issue 20): BEIR folders without titles, QA sets without gold passages,
SQuAD-style sets whose gold answers are lists; keyword mode embedding nothing; citations that resolve;
per-query results and the worst questions in the report.

The integration tests run real sites (packaged MiniLM, FAISS, SQLite, the real router and sealed
envelopes); fakes appear only in unit tests of the runner's and the report's logic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from eval._records import EvalDoc
from eval.cli import _limit
from eval.datasets import load_beir, load_dataset, load_qa
from eval.federated_systems import FederatedSystem
from eval.query_threads import QueryThreadsEmbedder
from eval.report import write_report
from eval.runner import best_gold, run_eval
from eval.site_systems import CentralizedSystem, SystemSetup
from eval.systems import SystemAnswer, SystemResult
from rag_fed.config import Settings
from rag_fed.embedders.base import Embedder
from tests.counting_embedder import CountingEmbedder

CORPUS = [
    {"_id": "1", "text": "compact memories of the wing flutter model at transonic speed"},
    {"_id": "2", "text": "boundary layer transition on a heated flat plate"},
    {"_id": "3", "text": "the hydraulic pump cavitates when the suction strainer is blocked"},
    {"_id": "4", "text": "replace the brake pads when they are worn below three millimetres"},
    {"_id": "5", "text": "engine oil is changed every five hundred hours of running"},
    {"_id": "6", "text": "shock waves on a swept wing at supersonic speed"},
]


def _jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def beir_folder(root: Path, queries: Sequence[Mapping[str, object]], qrels: Sequence[tuple[str, str, int]]) -> Path:
    """A BEIR-layout folder whose corpus has no titles."""
    root.mkdir()
    _jsonl(root / "corpus.jsonl", CORPUS)
    _jsonl(root / "queries.jsonl", queries)
    (root / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{s}" for q, d, s in qrels)]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def qa_without_gold(root: Path) -> Path:
    root.mkdir()
    _jsonl(root / "corpus.jsonl", CORPUS)
    return _jsonl(
        root / "qa.jsonl",
        [
            {
                "id": "a",
                "question": "why does the hydraulic pump cavitate",
                "answer": "the suction strainer is blocked",
            },
            {"id": "b", "question": "how often is engine oil changed", "answer": "every five hundred hours"},
            {"id": "c", "question": "when are brake pads replaced", "answer": "worn below three millimetres"},
        ],
    )


def _setup(tmp_path: Path, name: str, query_embedder: Embedder, documents: Embedder, mode: str) -> SystemSetup:
    return SystemSetup(
        settings=Settings(data_dir=tmp_path / name),
        embedder=query_embedder,
        index_embedder=documents,
        mode=mode,  # type: ignore[arg-type]
        strategy="extractive",
    )


# --- loading -------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_beir_corpus_without_titles_keeps_them_missing(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "beir", [{"_id": "q", "text": "wing flutter"}], [("q", "1", 1)])
    dataset = load_dataset(folder)
    assert {doc.title for doc in dataset.corpus} == {""}


@pytest.mark.unit
def test_squad_style_answer_lists_are_read(tmp_path: Path) -> None:
    queries = [
        {"_id": "q1", "text": "pump noise", "metadata": {"answers": ["a blocked strainer", "cavitation"]}},
        {"_id": "q2", "text": "oil", "metadata": {"answer": "every 500 hours", "answers": ["500 h"]}},
    ]
    folder = beir_folder(tmp_path / "beir", queries, [("q1", "3", 1), ("q2", "5", 1)])
    by_id = {query.query_id: query for query in load_beir(folder).queries}
    assert by_id["q1"].answers == ("a blocked strainer", "cavitation") and by_id["q1"].answer == "a blocked strainer"
    assert by_id["q2"].answers == ("every 500 hours", "500 h")
    qa = _jsonl(tmp_path / "squad.jsonl", [{"id": "x", "question": "pump?", "answers": ["cavitation", "noise"]}])
    assert load_qa(qa).queries[0].answers == ("cavitation", "noise")


@pytest.mark.unit
def test_a_qa_question_needs_some_gold_answer(tmp_path: Path) -> None:
    from rag_fed.errors import InputError

    qa = _jsonl(tmp_path / "bad.jsonl", [{"id": "x", "question": "pump?", "answers": []}])
    with pytest.raises(InputError, match="needs a gold answer"):
        load_qa(qa)


@pytest.mark.unit
def test_an_answer_is_scored_against_the_gold_answer_it_matches_best() -> None:
    assert best_gold("cavitation", ["a blocked suction strainer", "cavitation"]) == "cavitation"
    assert best_gold("the strainer is blocked", ["cavitation", "a blocked suction strainer"]).endswith("strainer")
    assert best_gold("anything", []) == ""


@pytest.mark.unit
def test_max_queries_keeps_questions_without_gold_passages(tmp_path: Path) -> None:
    dataset = load_qa(qa_without_gold(tmp_path / "qa"))
    assert [query.query_id for query in _limit(dataset, 2).queries] == ["a", "b"]


# --- the thread count of the query embedder -------------------------------------------------------------


class ThreadRecorder:
    dim = 2
    model_version = "threads-v1"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.seen.append(torch.get_num_threads())
        return np.ones((len(texts), 2), np.float32) / np.sqrt(2)


@pytest.mark.unit
def test_torch_threads_apply_to_query_embedding_only() -> None:
    before = torch.get_num_threads()
    inner = ThreadRecorder()
    queries = QueryThreadsEmbedder(inner, 1)
    queries.embed(["a query"])
    inner.embed(["a document, embedded at indexing"])
    assert inner.seen == [1, before]
    assert torch.get_num_threads() == before
    assert (queries.dim, queries.model_version) == (2, "threads-v1")


# --- real sites --------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_qa_set_without_gold_passages_has_no_retrieval_metrics(tmp_path: Path, packaged_embedder: Embedder) -> None:
    dataset = load_qa(qa_without_gold(tmp_path / "qa"))
    docs = {site: [doc for doc in dataset.corpus if int(doc.doc_id) % 2 == parity] for parity, site in enumerate("ab")}
    systems = [
        CentralizedSystem(_setup(tmp_path, "c", packaged_embedder, packaged_embedder, "dense")),
        FederatedSystem(_setup(tmp_path, "f", packaged_embedder, packaged_embedder, "dense")),
    ]
    try:
        sites = {site: [doc.doc_id for doc in site_docs] for site, site_docs in docs.items()}
        result = run_eval(dataset, systems, k=5, progress=False, sites=sites)
    finally:
        for system in systems:
            system.close()
    assert all(report.retrieval == {} for report in result.systems)
    assert any("No query has gold passages" in note for note in result.notes)
    for report in result.systems:
        assert report.answers["answer_contains"] > 0
        assert not any(name.startswith(("ndcg", "recall", "mrr")) for q in report.queries for name in q.metrics)
        # The product's answers cite only passages retrieved for their question.
        assert report.unresolved_citations == 0 and report.answers["unresolved_citations"] == 0.0
    written = write_report(result, tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Retrieval quality" not in markdown and "ndcg" not in markdown
    assert tmp_path / "out" / "report.html" in written


@pytest.mark.integration
def test_keyword_search_embeds_no_query(tmp_path: Path, packaged_embedder: Embedder) -> None:
    queries = [{"_id": "q1", "text": "hydraulic pump strainer"}, {"_id": "q2", "text": "brake pads worn"}]
    dataset = load_beir(beir_folder(tmp_path / "beir", queries, [("q1", "3", 1), ("q2", "4", 1)]))
    sites = {"a": ["1", "2", "3"], "b": ["4", "5", "6"]}
    counted = CountingEmbedder(packaged_embedder)
    systems = [
        CentralizedSystem(_setup(tmp_path, "c", counted, packaged_embedder, "keyword")),
        FederatedSystem(_setup(tmp_path, "f", counted, packaged_embedder, "keyword")),
    ]
    try:
        result = run_eval(dataset, systems, k=10, progress=False, sites=sites, answers=False)
    finally:
        for system in systems:
            system.close()
    assert counted.texts == []
    for report in result.systems:
        assert "embed" not in report.latency_ms
        assert report.retrieval["ndcg@10"] == 1.0
    central, federated = result.systems
    assert [q.doc_ids for q in central.queries] == [q.doc_ids for q in federated.queries]


# --- citations, per-query results, worst questions (the runner's and report's logic) --------------------


class CitingSystem:
    """Ranks three documents (the first three for a pump question, else the last three) and answers
    with the citations it was built with."""

    name = "citing"

    def __init__(self, tags: str) -> None:
        self._tags = tags
        self._ids: list[str] = []

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._ids = [doc.doc_id for docs in docs_by_site.values() for doc in docs]

    def search(self, query: str, k: int) -> SystemResult:
        ids = (self._ids if "pump" in query else self._ids[::-1])[: min(k, 3)]
        return SystemResult(ids, [float(k - rank) for rank in range(len(ids))], sites_contacted=["all"])

    def answer(self, query: str, k: int) -> SystemAnswer:
        result = self.search(query, k)
        retrieved = [("all", doc_id) for doc_id in result.doc_ids]
        return SystemAnswer(result, f"the strainer is blocked {self._tags}", result.doc_ids[:1], retrieved=retrieved)


@pytest.mark.unit
def test_unresolved_citations_are_counted_and_reported(tmp_path: Path) -> None:
    queries = [
        {"_id": "q1", "text": "pump", "metadata": {"answers": ["cavitation", "the strainer is blocked"]}},
        {"_id": "q2", "text": "wing", "metadata": {"answer": "flutter"}},
    ]
    dataset = load_beir(beir_folder(tmp_path / "beir", queries, [("q1", "1", 1), ("q2", "6", 1)]))
    tags = "[all:1] [cluster-3:1] [https://example.com/manual.pdf]"
    result = run_eval(dataset, [CitingSystem(tags)], k=3, progress=False)
    report = result.systems[0]
    first = report.queries[0]
    assert first.unresolved_citations == ["cluster-3:1", "https://example.com/manual.pdf"]
    # Scored against the second gold answer, the one it gives (against the first, "cavitation", it scores 0).
    assert first.scored_against == "the strainer is blocked" and first.metrics["exact_match"] == 1.0
    assert first.gold_answers == ["cavitation", "the strainer is blocked"]
    # q2 retrieved documents 6, 5, 4: its citation of document 1 does not resolve either.
    assert report.queries[1].unresolved_citations == ["all:1", "cluster-3:1", "https://example.com/manual.pdf"]
    assert report.unresolved_citations == 5 and report.answers["unresolved_citations"] == 2.5
    write_report(result, tmp_path / "out")
    document = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert document["systems"][0]["unresolved_citations"] == 5
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Unresolved citations" in page and "cluster-3:1" in page


@pytest.mark.unit
def test_per_query_results_and_the_five_worst_questions(tmp_path: Path) -> None:
    queries = [{"_id": f"q{n}", "text": f"pump {n}" if n % 2 else f"wing {n}"} for n in range(1, 8)]
    qrels = [(f"q{n}", "1", 1) for n in range(1, 8)]
    dataset = load_beir(beir_folder(tmp_path / "beir", queries, qrels))
    result = run_eval(dataset, [CitingSystem("")], k=10, progress=False, answers=False)
    write_report(result, tmp_path / "out")
    document = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    record = document["systems"][0]["queries"][1]
    assert record["question"] == "wing 2" and record["gold_doc_ids"] == {"1": 1}
    assert record["doc_ids"] == ["6", "5", "4"] and record["metrics"]["ndcg@10"] == 0.0
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "citing: the 5 worst questions by ndcg@10" in page
    worst = page.split("the 5 worst questions")[1].split("</table>")[0]
    # The three questions the system misses come first (wing 2, 4, 6), then two it answers at rank 1.
    assert [row.split("</td>")[0] for row in worst.split("<tr><td>")[1:]] == ["q2", "q4", "q6", "q1", "q3"]


@pytest.mark.integration
def test_eval_run_on_an_untitled_beir_folder(tmp_path: Path) -> None:
    """The command end to end: a known strategy is accepted (its check once raised NameError), and
    ``--torch-threads`` is reported as what it is, the query embedder's count."""
    from typer.testing import CliRunner

    from rag_fed.cli.main import app

    folder = beir_folder(tmp_path / "beir", [{"_id": "q1", "text": "wing flutter"}], [("q1", "1", 1)])
    out = tmp_path / "out"
    arguments = ["eval", "run", "--dataset", str(folder), "--out", str(out), "--split", "random:2"]
    before = torch.get_num_threads()
    result = CliRunner().invoke(app, [*arguments, "--strategy", "extractive", "--torch-threads", "1"])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert f"torch threads 1 for queries, {before} for indexing" in document["config"]["embedder"]
    assert document["systems"][0]["queries"][0]["question"] == "wing flutter"
    assert torch.get_num_threads() == before


@pytest.mark.integration
def test_eval_run_says_why_a_qa_set_has_no_retrieval_metrics(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag_fed.cli.main import app

    qa = qa_without_gold(tmp_path / "qa")
    arguments = ["eval", "run", "--dataset", str(qa), "--out", str(tmp_path / "out"), "--split", "random:2"]
    result = CliRunner().invoke(app, [*arguments, "--strategy", "extractive", "--max-queries", "2"])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "ndcg" not in output and "answer_contains" in output
    assert "note: No query has gold passages (relevance judgements): retrieval metrics are left out." in output
    assert json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["n_queries"] == 2
