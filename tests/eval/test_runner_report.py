"""End to end: a fake system over a tiny BEIR dataset, through the runner, to JSON, Markdown, HTML, PNG."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from eval.datasets import EvalDataset, EvalDoc, load_beir
from eval.report import write_report
from eval.results import source_revision
from eval.runner import ANSWER_METRICS, run_eval
from eval.splits import split_corpus
from eval.systems import AnsweringSystem, RetrievalSystem, SystemAnswer, SystemResult
from eval.training_log import load_training_log
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
    """Answers with the text of its best document, cites it with a tag, and times a model stage."""

    def answer(self, query: str, k: int) -> SystemAnswer:
        result = self.search(query, k)
        best = list(result.doc_ids[:1])
        text = f"{self._docs[best[0]]} [site-0:{best[0]}#intro]" if best else ""
        timed = SystemResult(
            result.doc_ids,
            result.scores,
            {**result.timings_ms, "site_answer": 100.0},
            bytes_sent=result.bytes_sent,
            bytes_received=result.bytes_received,
            sites_contacted=result.sites_contacted,
        )
        return SystemAnswer(timed, text, best)


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
    assert set(report.answers) == set(ANSWER_METRICS)
    assert {"citation_recall", "supported_share", "invented_values", "refused"} <= set(report.answers)
    assert report.queries[2].answer is None  # q3 has no reference answer
    assert report.answers["answer_contains"] == pytest.approx(1.0)  # both answers appear in the cited text
    # q1 cites d1 of its gold {d1, d5}, q2 cites its one gold d3.
    assert report.queries[0].metrics["citation_recall"] == pytest.approx(0.5)
    assert report.queries[1].metrics["citation_recall"] == pytest.approx(1.0)
    # Each answer quotes its cited document: every sentence supported, no value invented, none refused.
    assert report.answers["supported_share"] == pytest.approx(1.0)
    assert report.answers["invented_values"] == 0.0 and report.answers["refused"] == 0.0
    assert report.bytes_sent["mean"] == 200.0
    assert report.sites_contacted["mean"] == 2.0
    assert {"embed", "site_search", "site_answer", "total"} <= set(report.latency_ms)
    assert report.latency_ms["site_answer"]["n"] == 2.0  # only q1 and q2 were answered
    assert report.sites_failed["mean"] == 0.0
    assert report.reachable_recall == pytest.approx(1.0)  # the fake contacts every site
    # The citation tag is not part of the scored text: q2's answer is "Engine oil Change the engine oil
    # every 500 hours." against "every 500 hours", so token F1 = 2 * (3/8 * 1) / (3/8 + 1).
    assert report.queries[1].metrics["token_f1"] == pytest.approx(2 * 3 / 8 / (3 / 8 + 1))
    assert result.site_sizes == {site: len(doc_ids) for site, doc_ids in sites.items()}
    assert len(result.load_average["before"]) == 3

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
    assert {"python", "source", "rag-fed", "torch", "ranx", "llama-cpp-python"} <= set(document["versions"])
    assert document["systems"][0]["retrieval"]["ndcg@10"] == pytest.approx(report.retrieval["ndcg@10"])
    assert document["training_log"][2] == {
        "round": 3.0,
        "loss": pytest.approx(1 / 3),
        "ndcg@10": pytest.approx(0.33),
    }
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| federated |" in markdown and "![metrics](plots/metrics.png)" in markdown
    assert "## Example answers" in markdown and "load average" in markdown
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<img src="plots/latency.png"' in page and "<td>centralized</td>" in page


@pytest.mark.unit
def test_answers_off_searches_only(toy: EvalDataset) -> None:
    result = run_eval(toy, [FakeAnsweringSystem("a")], progress=False, answers=False, config={"search mode": "dense"})
    report = result.systems[0]
    assert report.answers == {} and all(q.answer is None for q in report.queries)
    assert "site_answer" not in report.latency_ms
    assert result.config == {"search mode": "dense"}
    assert any("--no-answers" in note for note in result.notes)


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


@pytest.mark.unit
def test_training_ledger_becomes_curves(toy: EvalDataset, tmp_path: Path) -> None:
    from rag_fed.training.ledger import RoundRecord

    rounds = [
        RoundRecord(
            round=r,
            sites=["site-a", "site-b"],
            metrics={
                "site-a": {"train-loss": 1.0 / r, "val-mrr@10": 0.30 + r / 100, "num-examples": 90.0},
                "site-b": {"train-loss": 2.0 / r, "val-mrr@10": 0.40 + r / 100, "num-examples": 80.0},
            },
            bytes_uploaded={"site-a": 1_000_000, "site-b": 3_000_000},
            checkpoint=f"checkpoints/round-{r:04d}.npz",
            checkpoint_sha256="0" * 64,
        ).model_dump(mode="json")
        for r in (1, 2)
    ]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "ledger.json").write_text(json.dumps(rounds), encoding="utf-8")
    log = load_training_log(run_dir)
    assert log[1]["round"] == 2.0
    assert log[1]["val-mrr@10"] == pytest.approx(0.37)  # the mean of the two sites
    assert log[1]["train-loss[site-b]"] == pytest.approx(1.0)
    assert log[0]["upload-MB"] == pytest.approx(4.0)
    assert not any(key.startswith("num-examples") for key in log[0])
    result = run_eval(toy, [FakeSystem("a")], progress=False)
    written = write_report(result, tmp_path / "out", training_log=run_dir / "ledger.json")
    assert (tmp_path / "out" / "plots" / "training.png") in written
    document = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert document["training_log"][0]["val-mrr@10[site-a]"] == pytest.approx(0.31)


@pytest.mark.unit
def test_source_revision(tmp_path: Path) -> None:
    assert source_revision(tmp_path) == "unknown"  # not a git checkout
    revision = source_revision()
    assert revision == "unknown" or len(revision.removesuffix("+dirty")) == 12
