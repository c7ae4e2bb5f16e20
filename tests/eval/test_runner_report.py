"""End to end: a fake system over a tiny BEIR dataset, through the runner, to JSON, Markdown, HTML, PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from eval.datasets import EvalDataset, EvalDoc, load_beir
from eval.report import write_report
from eval.runner import run_eval
from eval.splits import split_corpus
from eval.systems import AnsweringSystem, RetrievalSystem, SystemAnswer, SystemResult
from rag_fed.errors import InputError

CORPUS = [
    ("d1", "Hydraulic hose", "Replace the hydraulic hose when it leaks oil."),
    ("d2", "Brake pads", "Brake pads are replaced when worn below 3 mm."),
    ("d3", "Engine oil", "Change the engine oil every 500 hours."),
    ("d4", "Cab filter", "The cab air filter is cleaned weekly."),
    ("d5", "Hydraulic pump", "A noisy hydraulic pump may be cavitating."),
    ("d6", "Tyres", "Check tyre pressure before each shift."),
]
QUERIES = [
    ("q1", "hydraulic hose leaks", "replace the hydraulic hose", {"d1": 2, "d5": 1}),
    ("q2", "when to change engine oil", "every 500 hours", {"d3": 1}),
    ("q3", "brake pads worn", None, {"d2": 1}),
]


class FakeSystem:
    """Ranks documents by shared lower-case words; costs are deterministic functions of the query."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._docs: dict[str, str] = {}
        self._sites: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    def index(self, docs_by_site: Mapping[str, Sequence[EvalDoc]]) -> None:
        self._sites = sorted(docs_by_site)
        self._docs = {doc.doc_id: f"{doc.title} {doc.text}" for docs in docs_by_site.values() for doc in docs}

    def search(self, query: str, k: int) -> SystemResult:
        words = set(query.lower().split())
        scored = sorted(
            ((len(words & set(text.lower().split())), doc_id) for doc_id, text in self._docs.items()),
            key=lambda p: (-p[0], p[1]),
        )
        top = [(doc_id, float(score)) for score, doc_id in scored if score > 0][:k]
        return SystemResult(
            doc_ids=[doc_id for doc_id, _ in top],
            scores=[score for _, score in top],
            timings_ms={"embed": 0.5 * len(words), "site_search": 1.0 + len(top)},
            bytes_sent=100 * len(self._sites),
            bytes_received=40 * len(top),
            sites_contacted=self._sites,
        )


class FakeAnsweringSystem(FakeSystem):
    """Answers with the text of its best document and cites it."""

    def answer(self, query: str) -> SystemAnswer:
        best = self.search(query, 1).doc_ids
        return SystemAnswer(self._docs[best[0]] if best else "", list(best))


def write_toy_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, title, text in CORPUS:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for query_id, text, answer, _ in QUERIES:
            metadata = {"answer": answer} if answer else {}
            handle.write(json.dumps({"_id": query_id, "text": text, "metadata": metadata}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{query_id}\t{doc_id}\t{grade}" for query_id, _, _, gold in QUERIES for doc_id, grade in gold.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture()
def toy(tmp_path: Path) -> EvalDataset:
    return load_beir(write_toy_beir(tmp_path / "toy"))


@pytest.mark.unit
def test_fake_system_meets_the_protocols() -> None:
    assert isinstance(FakeSystem("x"), RetrievalSystem)
    assert not isinstance(FakeSystem("x"), AnsweringSystem)
    assert isinstance(FakeAnsweringSystem("x"), AnsweringSystem)


@pytest.mark.integration
def test_end_to_end_report(toy: EvalDataset, tmp_path: Path) -> None:
    sites = split_corpus(toy, "random:2", seed=7)
    systems = [FakeAnsweringSystem("federated"), FakeAnsweringSystem("centralized")]
    result = run_eval(toy, systems, k=10, progress=False, sites=sites, split_spec="random:2", seed=7)
    report = result.systems[0]
    # q1 ranks d1 (3 shared words) above d5 (1): ideal order, so nDCG = recall = RR = 1 for q1.
    assert report.queries[0].doc_ids[:2] == ["d1", "d5"]
    assert report.queries[0].metrics["ndcg@10"] == pytest.approx(1.0)
    assert set(report.retrieval) == {"ndcg@10", "recall@10", "mrr@10"}
    assert any("recall@100" in note for note in result.notes)
    assert set(report.answers) == {"exact_match", "token_f1", "answer_contains", "citation_precision"}
    assert report.queries[2].answer is None  # q3 has no reference answer
    assert report.answers["answer_contains"] == pytest.approx(1.0)  # both answers appear in the cited text
    assert report.bytes_sent["mean"] == 200.0
    assert report.sites_contacted["mean"] == 2.0
    assert {"embed", "site_search", "search_total", "answer_total"} <= set(report.latency_ms)
    assert result.site_sizes == {site: len(doc_ids) for site, doc_ids in sites.items()}

    training_log = tmp_path / "training.json"
    training_log.write_text(json.dumps([{"round": r, "loss": 1.0 / r, "ndcg@10": 0.3 + r / 100} for r in (1, 2, 3)]))
    written = write_report(result, tmp_path / "out", training_log=training_log)
    out = tmp_path / "out"
    assert {path.name for path in written} == {
        "report.json",
        "report.md",
        "report.html",
        "metrics.png",
        "latency.png",
        "training.png",
    }
    for name in ("metrics.png", "latency.png", "training.png"):
        assert (out / "plots" / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert document["command"] == result.command and document["seed"] == 7
    assert {"python", "rag-fed", "torch", "faiss-cpu", "ranx"} <= set(document["versions"])
    assert document["systems"][0]["retrieval"]["ndcg@10"] == pytest.approx(report.retrieval["ndcg@10"])
    assert document["training_log"][2] == {
        "round": 3.0,
        "loss": pytest.approx(1 / 3),
        "ndcg@10": pytest.approx(0.33),
    }
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| federated |" in markdown and "![metrics](plots/metrics.png)" in markdown
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<img src="plots/latency.png"' in page and "<td>centralized</td>" in page


@pytest.mark.integration
def test_same_seed_gives_identical_numbers(toy: EvalDataset) -> None:
    def quality(seed: int) -> list[tuple[dict[str, float], dict[str, float], list[list[str]]]]:
        sites = split_corpus(toy, "random:3", seed=seed)
        result = run_eval(toy, [FakeAnsweringSystem("a"), FakeSystem("b")], progress=False, sites=sites, seed=seed)
        return [(r.retrieval, r.answers, [q.doc_ids for q in r.queries]) for r in result.systems]

    assert quality(4) == quality(4)


@pytest.mark.unit
def test_runner_rejects_bad_input(toy: EvalDataset) -> None:
    with pytest.raises(InputError, match="unique"):
        run_eval(toy, [FakeSystem("a"), FakeSystem("a")], progress=False)
    with pytest.raises(InputError, match="unknown document"):
        run_eval(toy, [FakeSystem("a")], progress=False, sites={"s": ["d1", "nope"]})
    with pytest.raises(InputError, match="in no site"):
        run_eval(toy, [FakeSystem("a")], progress=False, sites={"s": ["d1"]})
    with pytest.raises(InputError, match="positive"):
        run_eval(toy, [FakeSystem("a")], k=0, progress=False)


@pytest.mark.unit
def test_malformed_training_log(toy: EvalDataset, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    log.write_text('[{"round": 1, "loss": 0.5}, {"loss": 0.4}]')
    result = run_eval(toy, [FakeSystem("a")], progress=False)
    with pytest.raises(InputError, match="entry 1") as caught:
        write_report(result, tmp_path / "out", training_log=log)
    assert "log.json" in str(caught.value)
