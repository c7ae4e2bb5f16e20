"""The benchmarked systems: the shared index embedder, stage timings, and the four configurations on real
sites (real MiniLM, FAISS, SQLite, sealed envelopes through the real router; evidence-first answers,
SmolLM2 for the strategies that use a model)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from eval._records import EvalDataset, EvalDoc, EvalQuery
from eval.cli import ANSWER_PASSAGES
from eval.embedding_cache import CachingEmbedder
from eval.federated_systems import FederatedSystem, stage_timings
from eval.runner import ANSWER_METRICS, run_eval
from eval.site_systems import CentralizedSystem, LocalBestSystem, SystemSetup, TopPassageSystem, chunk_depth
from eval.splits import split_corpus
from rag_fed.config import AnswerStrategy, Settings
from rag_fed.embedders.base import Embedder
from rag_fed.errors import InputError
from rag_fed.protocol import MAX_K
from rag_fed.router import FederatedResult

DOCS = [
    ("pump-1", "north", "The hydraulic pump cavitates when the suction strainer is blocked; clean the strainer."),
    ("pump-2", "north", "Replace the hydraulic pump seal when oil leaks from the shaft."),
    ("hose-1", "north", "A burst hydraulic hose is replaced with a hose of the same pressure rating."),
    ("brake-1", "south", "Brake pads are replaced when they are worn below 3 mm."),
    ("tyre-1", "south", "Check the tyre pressure before every shift; inflate to 6 bar."),
    ("engine-1", "south", "Change the engine oil and the oil filter every 500 hours."),
]
QUERIES = [
    ("q1", "hydraulic pump is cavitating", "clean the suction strainer", {"pump-1": 1}),
    ("q2", "how often to change engine oil", "every 500 hours", {"engine-1": 1}),
    ("q3", "worn brake pads", None, {"brake-1": 1}),
]


class CountingEmbedder:
    """A deterministic stand-in that records every batch it is asked to embed."""

    dim = 4
    model_version = "counting-v1"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.batches.append(list(texts))
        vectors = np.array([[len(t), t.count("a"), t.count("e"), 1.0] for t in texts], dtype=np.float32)
        return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def toy_dataset() -> EvalDataset:
    corpus = [EvalDoc(doc_id, "", text, {"plant": plant}) for doc_id, plant, text in DOCS]
    queries = [EvalQuery(query_id, text, answer, gold) for query_id, text, answer, gold in QUERIES]
    return EvalDataset(name="toy", corpus=corpus, queries=queries)


@pytest.mark.unit
def test_caching_embedder_embeds_each_text_once() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)
    first = cached.embed(["a", "b", "a"])
    second = cached.embed(["b", "c"])
    assert inner.batches == [["a", "b"], ["c"]]
    np.testing.assert_array_equal(first[1], second[0])
    np.testing.assert_array_equal(second, inner.embed(["b", "c"]))
    assert (cached.hits, cached.misses) == (2, 3)
    assert (cached.dim, cached.model_version) == (4, "counting-v1")
    assert cached.embed([]).shape == (0, 4)
    assert cached.size == 3
    assert CachingEmbedder(inner), "an empty cache must be truthy: Site.open(embedder=...) tests it with `or`"


@pytest.mark.unit
def test_caching_embedder_saves_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "vectors.npz"
    first = CachingEmbedder(CountingEmbedder())
    expected = first.embed(["pump", "hose"])
    first.save(path)
    inner = CountingEmbedder()
    second = CachingEmbedder(inner)
    assert second.load(path) == 2
    np.testing.assert_array_equal(second.embed(["hose", "pump"]), expected[::-1])
    assert inner.batches == []  # served from the file
    other = CountingEmbedder()
    other.model_version = "counting-v2"
    assert CachingEmbedder(other).load(path) == 0  # another model's vectors are not comparable
    (tmp_path / "bad.npz").write_bytes(b"not numpy")
    with pytest.raises(InputError, match=r"bad\.npz"):
        second.load(tmp_path / "bad.npz")


@pytest.mark.unit
def test_chunk_depth_is_capped_by_the_protocol() -> None:
    assert chunk_depth(10) == 40
    assert chunk_depth(100) == MAX_K


@pytest.mark.unit
def test_stage_timings_from_site_calls() -> None:
    result = FederatedResult(request_id="r", question="q", mode="dense", k=5, elapsed_ms=500.0)
    calls = [(0.010, 0.300, {"search": 20.0, "answer": 250.0}), (0.015, 0.480, {"search": 35.0, "answer": 400.0})]
    timings = stage_timings(0.0, result, calls)
    assert timings == pytest.approx({"route": 10.0, "site_search": 35.0, "site_answer": 400.0, "fuse": 20.0})
    assert "site_answer" not in stage_timings(0.0, result, [(0.01, 0.05, {"search": 3.0})])
    assert stage_timings(0.0, result, []) == {"route": 500.0, "fuse": 0.0}


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """One embedder thread: on a shared 2-core machine two torch threads wait on each other (~20x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


AnySystem = CentralizedSystem | FederatedSystem | LocalBestSystem


def _systems(
    tmp_path: Path,
    embedder: Embedder,
    strategy: AnswerStrategy | None = None,
    site_answers: bool = False,
    *,
    top_passage: bool = False,
) -> list[AnySystem]:
    cached = CachingEmbedder(embedder)
    factory = None
    if strategy is not None and strategy != "extractive":
        from rag_fed.generators.llama_cpp_backend import LlamaCppGenerator
        from rag_fed.generators.packaged import packaged_smollm2_path

        def factory() -> LlamaCppGenerator:
            return LlamaCppGenerator(packaged_smollm2_path(), context_tokens=1024, threads=1)

    def setup(name: str) -> SystemSetup:
        settings = Settings(data_dir=tmp_path / name)
        # A short lead keeps the test fast; the path is the one a full run takes.
        settings.answers.lead_max_tokens = 32
        return SystemSetup(
            settings,
            embedder,
            "dense",
            cached,
            factory,
            strategy=strategy,
            deadline_s=120.0,
            answer_passages=ANSWER_PASSAGES,
            site_answers=site_answers,
        )

    systems: list[AnySystem] = [
        CentralizedSystem(setup("centralized")),
        FederatedSystem(setup("federated"), selection="all"),
        FederatedSystem(setup("routed"), selection="sketch"),
        LocalBestSystem(setup("local-best")),
    ]
    if top_passage:
        systems.append(TopPassageSystem(setup("top-passage")))
    return systems


@pytest.mark.unit
def test_answers_are_enabled_by_a_strategy_and_the_model_it_needs() -> None:
    settings = Settings()
    embedder = CountingEmbedder()
    assert not SystemSetup(settings, embedder).answers_enabled  # type: ignore[arg-type]
    assert SystemSetup(settings, embedder, strategy="extractive").answers_enabled  # type: ignore[arg-type]
    assert not SystemSetup(settings, embedder, strategy="grounded").answers_enabled  # type: ignore[arg-type]
    grounded = SystemSetup(settings, embedder, generator_factory=lambda: None, strategy="grounded")  # type: ignore[arg-type,return-value]
    assert grounded.answers_enabled


@pytest.mark.integration
@pytest.mark.usefixtures("one_torch_thread")
def test_four_configurations_on_real_sites(tmp_path: Path, packaged_embedder: Embedder) -> None:
    dataset = toy_dataset()
    sites = split_corpus(dataset, "field:plant")
    systems = _systems(tmp_path, packaged_embedder)
    index_embedder = systems[0]._setup.index_embedder
    assert isinstance(index_embedder, CachingEmbedder)
    try:
        result = run_eval(dataset, systems, k=10, progress=False, sites=sites, answers=False)
    finally:
        for system in systems:
            system.close()
    central, federated, routed, local_best = result.systems
    # Dense scores are comparable across sites, so asking every site ranks exactly as the pooled index.
    assert [q.doc_ids for q in federated.queries] == [q.doc_ids for q in central.queries]
    assert central.retrieval["recall@10"] == pytest.approx(1.0)
    assert federated.sites_contacted["mean"] == 2.0 and routed.sites_contacted["mean"] == 1.0
    assert federated.bytes_sent["mean"] > 0 and federated.bytes_received["mean"] > 0
    assert 0 < routed.bytes_received["mean"] < federated.bytes_received["mean"]
    assert federated.sites_failed["mean"] == 0.0
    assert central.reachable_recall is None and federated.reachable_recall == pytest.approx(1.0)
    # Routing to one of two plant sites can only find what that site holds: q1's pump is at "north".
    routed_q1 = routed.queries[0]
    assert routed_q1.sites_contacted == ["plant-north"] and routed_q1.doc_ids[0] == "pump-1"
    assert {"embed", "route", "site_search", "fuse", "total"} <= set(federated.latency_ms)
    assert central.bytes_sent["mean"] == 0.0 and local_best.sites_contacted["mean"] == 1.0
    # Each document was embedded once, for the first configuration; the other three reused the vectors.
    assert index_embedder.misses == len(DOCS) and index_embedder.hits == 3 * len(DOCS)
    assert all(not report.answers for report in result.systems)


@pytest.mark.integration
@pytest.mark.usefixtures("one_torch_thread")
def test_extractive_answers_quote_the_evidence_in_every_configuration(
    tmp_path: Path, packaged_embedder: Embedder
) -> None:
    dataset = toy_dataset()
    sites = split_corpus(dataset, "field:plant")
    systems = _systems(tmp_path, packaged_embedder, "extractive", top_passage=True)
    try:
        result = run_eval(dataset, systems, k=10, progress=False, sites=sites)
    finally:
        for system in systems:
            system.close()
    assert [report.name for report in result.systems][-1] == "top-passage"
    for report in result.systems:
        assert set(report.answers) == set(ANSWER_METRICS), report.name
        q1, q2 = report.queries[0], report.queries[1]
        assert q1.answer and q2.answer, f"{report.name} wrote no answer"
        assert q1.metrics["refused"] == 0.0 and q2.metrics["refused"] == 0.0, report.name
        # The documents answer both questions: the quoted evidence holds the reference strings.
        assert "strainer" in q1.answer and "500 hours" in q2.answer, report.name
        assert q1.cited_doc_ids[0] == "pump-1" and q2.cited_doc_ids[0] == "engine-1", report.name
        assert "[plant-" in q1.answer or "[central:" in q1.answer, f"{report.name} cites no tag"
        # Quotes carry only what the documents say.
        assert report.answers["invented_values"] == 0.0, report.name
        assert report.answers["supported_share"] > 0.5, report.name
        assert report.queries[2].answer is None  # q3 has no reference answer
    federated = result.systems[1]
    # No model runs for an extractive answer; composing is the gateway's own (fast) stage.
    assert {"compose", "compose_first"} <= set(federated.latency_ms)
    assert "site_answer" not in federated.latency_ms


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_configurations_answer_with_the_local_model(tmp_path: Path, packaged_embedder: Embedder) -> None:
    dataset = toy_dataset()
    dataset = EvalDataset("toy", dataset.corpus, dataset.queries[:1])
    systems = _systems(tmp_path, packaged_embedder, "grounded", site_answers=True)
    try:
        result = run_eval(dataset, systems, k=10, progress=False, sites=split_corpus(dataset, "field:plant"))
    finally:
        for system in systems:
            system.close()
    doc_ids = {doc.doc_id for doc in dataset.corpus}
    for report in result.systems:
        record = report.queries[0]
        assert record.answer, f"{report.name} wrote no answer"
        assert record.cited_doc_ids and set(record.cited_doc_ids) <= doc_ids
        assert set(report.answers) == set(ANSWER_METRICS)
        assert all(0.0 <= value <= 1.0 for name, value in report.answers.items() if name != "invented_values")
        # Whatever the model wrote, a grounded answer keeps only supported sentences and the evidence.
        assert report.answers["invented_values"] == 0.0
        assert "strainer" in record.answer
        assert "site_answer" in report.latency_ms
    federated = result.systems[1]
    # site_answers: every site's model phrased a lead too, then the central model composed.
    assert {"route", "site_search", "site_answer", "fuse", "compose"} <= set(federated.latency_ms)


@pytest.mark.integration
@pytest.mark.usefixtures("one_torch_thread")
def test_only_the_central_model_runs_without_site_answers(tmp_path: Path, packaged_embedder: Embedder) -> None:
    dataset = toy_dataset()
    dataset = EvalDataset("toy", dataset.corpus, dataset.queries[:1])
    federated = _systems(tmp_path, packaged_embedder, "grounded", site_answers=False)[1]
    try:
        result = run_eval(dataset, [federated], k=10, progress=False, sites=split_corpus(dataset, "field:plant"))
    finally:
        federated.close()
    (report,) = result.systems
    record = report.queries[0]
    assert record.answer and record.cited_doc_ids
    assert set(record.cited_doc_ids) <= {doc.doc_id for doc in dataset.corpus}
    assert "strainer" in record.answer and record.metrics["refused"] == 0.0
    # No site model ran: the sites sent evidence at once; the central model's lead is the only generation.
    assert "compose" in report.latency_ms and "site_answer" not in report.latency_ms
