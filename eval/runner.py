"""Run every system of a benchmark over one dataset and collect quality, latency, bytes and sites.

The runner is deterministic for deterministic systems: it draws no random numbers, and it scores a
ranking by its order (scores derived from ranks), so equal inputs give equal quality numbers.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eval._records import EvalDataset, EvalDoc, EvalQuery
from eval.metrics import (
    RETRIEVAL_METRICS,
    answer_contains,
    citation_precision,
    distribution_summary,
    exact_match,
    latency_summary,
    retrieval_metrics_per_query,
    token_f1,
)
from eval.results import EvalResult, QueryRecord, SystemReport, package_versions
from eval.systems import AnsweringSystem, RetrievalSystem
from rag_fed.errors import InputError

__all__ = ["ANSWER_METRICS", "run_eval"]

ANSWER_METRICS = ("exact_match", "token_f1", "answer_contains", "citation_precision")
_CUTOFF = re.compile(r"@(\d+)$")


def _docs_by_site(dataset: EvalDataset, sites: Mapping[str, Sequence[str]] | None) -> dict[str, list[EvalDoc]]:
    """Resolve a ``{site: [doc_id]}`` split; it must place every document in exactly one site."""
    if sites is None:
        return {"all": list(dataset.corpus)}
    docs = dataset.doc_by_id()
    placed: dict[str, str] = {}
    for site_id, doc_ids in sites.items():
        for doc_id in doc_ids:
            if doc_id not in docs:
                raise InputError(f"site {site_id!r} lists unknown document {doc_id!r}")
            if doc_id in placed:
                raise InputError(f"document {doc_id!r} is in sites {placed[doc_id]!r} and {site_id!r}")
            placed[doc_id] = site_id
    if len(placed) != len(docs):
        unplaced = [doc_id for doc_id in docs if doc_id not in placed]
        raise InputError(f"{len(unplaced)} documents are in no site, e.g. {unplaced[:3]}")
    return {site_id: [docs[doc_id] for doc_id in doc_ids] for site_id, doc_ids in sites.items()}


def _metrics_within(k: int) -> tuple[list[str], list[str]]:
    """Split the retrieval metrics into those a depth-``k`` ranking can support and the rest."""
    kept: list[str] = []
    dropped: list[str] = []
    for metric in RETRIEVAL_METRICS:
        cutoff = _CUTOFF.search(metric)
        (kept if cutoff is None or int(cutoff.group(1)) <= k else dropped).append(metric)
    return kept, dropped


def _search_one(system: RetrievalSystem, query: EvalQuery, k: int) -> QueryRecord:
    started = time.perf_counter()
    result = system.search(query.text, k)
    wall_ms = (time.perf_counter() - started) * 1000.0
    doc_ids: list[str] = []
    scores: list[float] = []
    for doc_id, score in zip(result.doc_ids, result.scores, strict=True):
        if doc_id not in doc_ids and len(doc_ids) < k:
            doc_ids.append(doc_id)
            scores.append(float(score))
    return QueryRecord(
        query_id=query.query_id,
        doc_ids=doc_ids,
        scores=scores,
        timings_ms={**{stage: float(ms) for stage, ms in result.timings_ms.items()}, "search_total": wall_ms},
        bytes_sent=int(result.bytes_sent),
        bytes_received=int(result.bytes_received),
        sites_contacted=list(result.sites_contacted),
    )


def _score_answer(system: AnsweringSystem, query: EvalQuery, record: QueryRecord, docs: Mapping[str, EvalDoc]) -> None:
    if query.answer is None:
        return
    started = time.perf_counter()
    text, cited = system.answer(query.text)
    record.timings_ms["answer_total"] = (time.perf_counter() - started) * 1000.0
    record.answer = text
    record.cited_doc_ids = list(cited)
    # A citation of an unknown document supports nothing, so it counts against precision.
    cited_texts = [docs[doc_id].text if doc_id in docs else "" for doc_id in cited]
    record.metrics.update(
        exact_match=exact_match(text, query.answer),
        token_f1=token_f1(text, query.answer),
        answer_contains=answer_contains(text, query.answer),
        citation_precision=citation_precision(cited_texts, query.answer),
    )


def _evaluate_system(
    system: RetrievalSystem,
    dataset: EvalDataset,
    docs_by_site: Mapping[str, Sequence[EvalDoc]],
    k: int,
    metrics: Sequence[str],
    progress: Progress,
) -> SystemReport:
    task = progress.add_task(f"{system.name}: indexing", total=len(dataset.queries))
    started = time.perf_counter()
    system.index(docs_by_site)
    index_seconds = time.perf_counter() - started
    progress.update(task, description=f"{system.name}: querying")
    docs = dataset.doc_by_id()
    answerer = system if isinstance(system, AnsweringSystem) else None
    records: list[QueryRecord] = []
    for query in dataset.queries:
        record = _search_one(system, query, k)
        if answerer is not None:
            _score_answer(answerer, query, record, docs)
        records.append(record)
        progress.advance(task)
    run = {r.query_id: {doc_id: float(len(r.doc_ids) - rank) for rank, doc_id in enumerate(r.doc_ids)} for r in records}
    per_query = retrieval_metrics_per_query(run, dataset.qrels(), metrics)
    for record in records:
        for metric in metrics:
            if record.query_id in per_query[metric]:
                record.metrics[metric] = per_query[metric][record.query_id]
    answered = [record for record in records if record.answer is not None]
    return SystemReport(
        name=system.name,
        index_seconds=index_seconds,
        retrieval={metric: _mean(values.values()) for metric, values in per_query.items()},
        answers={name: _mean(r.metrics[name] for r in answered) for name in ANSWER_METRICS} if answered else {},
        latency_ms=latency_summary(record.timings_ms for record in records),
        bytes_sent=distribution_summary(float(record.bytes_sent) for record in records),
        bytes_received=distribution_summary(float(record.bytes_received) for record in records),
        sites_contacted=distribution_summary(float(len(record.sites_contacted)) for record in records),
        queries=records,
    )


def _mean(values: Iterable[float]) -> float:
    collected = [float(value) for value in values]
    return sum(collected) / len(collected) if collected else 0.0


def run_eval(
    dataset: EvalDataset,
    systems: Sequence[RetrievalSystem],
    k: int = 10,
    progress: bool = True,
    *,
    sites: Mapping[str, Sequence[str]] | None = None,
    split_spec: str | None = None,
    seed: int | None = None,
    dataset_path: str | None = None,
    command: str | None = None,
) -> EvalResult:
    """Index ``dataset`` into each system (split as ``sites``, else one site ``all``) and run every query.

    Each system gets up to ``k`` results per query; retrieval metrics whose cutoff exceeds ``k`` (e.g.
    recall@100 when k=10) are left out and said so in ``notes``. Systems that implement
    ``AnsweringSystem`` also answer the queries that have a reference answer. ``split_spec``, ``seed``,
    ``dataset_path`` and ``command`` (default: this process's command line) are recorded as given.
    """
    if k < 1:
        raise InputError(f"k must be a positive number of results, got {k}")
    names = [system.name for system in systems]
    if len(set(names)) != len(names):
        raise InputError(f"system names must be unique, got {names}")
    docs_by_site = _docs_by_site(dataset, sites)
    metrics, dropped = _metrics_within(k)
    notes = [f"{', '.join(dropped)} not computed: rankings are cut at k={k}"] if dropped else []
    if dataset.description:
        notes.append(f"Dataset: {dataset.description}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        reports = [_evaluate_system(system, dataset, docs_by_site, k, metrics, bar) for system in systems]
    return EvalResult(
        dataset=dataset.name,
        dataset_path=dataset_path if dataset_path is not None else dataset.source,
        dataset_description=dataset.description,
        n_docs=len(dataset.corpus),
        n_queries=len(dataset.queries),
        k=k,
        seed=seed,
        split_spec=split_spec,
        site_sizes={site_id: len(docs) for site_id, docs in docs_by_site.items()},
        command=command if command is not None else shlex.join([sys.executable, *sys.argv]),
        versions=package_versions(),
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        systems=reports,
        notes=notes,
    )
