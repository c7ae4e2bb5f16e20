"""Run every system of a benchmark over one dataset and collect quality, latency, bytes and sites.

The runner is deterministic for deterministic systems: it draws no random numbers, and it scores a
ranking by its order (scores derived from ranks), so equal inputs give equal quality numbers.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from eval._records import EvalDataset, EvalDoc, EvalQuery
from eval._text import cited_sources, strip_citations
from eval.answer_metrics import citation_recall, invented_values, supported_share
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
from eval.systems import AnsweringSystem, RetrievalSystem, SystemAnswer, SystemResult
from rag_fed.errors import InputError

__all__ = ["ANSWER_METRICS", "run_eval"]

ANSWER_METRICS = (
    "exact_match",
    "token_f1",
    "answer_contains",
    "citation_precision",
    "citation_recall",
    "supported_share",
    "invented_values",
    "unresolved_citations",
    "refused",
)
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


def _record(query: EvalQuery, result: SystemResult, k: int, wall_ms: float) -> QueryRecord:
    doc_ids: list[str] = []
    scores: list[float] = []
    for doc_id, score in zip(result.doc_ids, result.scores, strict=True):
        if doc_id not in doc_ids and len(doc_ids) < k:
            doc_ids.append(doc_id)
            scores.append(float(score))
    return QueryRecord(
        query_id=query.query_id,
        question=query.text,
        gold_doc_ids=dict(query.gold_doc_ids),
        gold_answers=list(query.answers),
        doc_ids=doc_ids,
        scores=scores,
        timings_ms={**{stage: float(ms) for stage, ms in result.timings_ms.items()}, "total": wall_ms},
        bytes_sent=int(result.bytes_sent),
        bytes_received=int(result.bytes_received),
        sites_contacted=list(result.sites_contacted),
        sites_failed=list(result.sites_failed),
    )


def _run_query(
    system: RetrievalSystem, query: EvalQuery, k: int, answer: bool, docs: Mapping[str, EvalDoc]
) -> QueryRecord:
    """One call of the system: ``answer`` (the whole query path) when asked to and the query has a
    reference answer, else ``search``; the runner's wall clock around it is the ``total`` stage."""
    started = time.perf_counter()
    if answer and query.answer is not None and isinstance(system, AnsweringSystem):
        answered = system.answer(query.text, k)
        record = _record(query, answered.result, k, (time.perf_counter() - started) * 1000.0)
        _score_answer(record, answered, query, docs)
        return record
    result = system.search(query.text, k)
    return _record(query, result, k, (time.perf_counter() - started) * 1000.0)


def best_gold(words: str, answers: Sequence[str]) -> str:
    """The gold answer ``words`` matches best (exact match, then token F1, then containment; the first on
    a tie): a set listing several gold answers scores an answer against the one it gives."""
    if not answers:
        return ""
    return max(
        answers, key=lambda gold: (exact_match(words, gold), token_f1(words, gold), answer_contains(words, gold))
    )


def unresolved_citations(answered: SystemAnswer) -> list[str]:
    """The answer's citations, as ``site:doc``, that name no passage retrieved for the question: its
    citation tags and the citations it reports, each once (an invented site or id, a URL in brackets)."""
    retrieved = set(answered.retrieved)
    cited = dict.fromkeys([*cited_sources(answered.text), *answered.citations])
    return [f"{site}:{doc}" for site, doc in cited if (site, doc) not in retrieved]


def _score_answer(record: QueryRecord, answered: SystemAnswer, query: EvalQuery, docs: Mapping[str, EvalDoc]) -> None:
    record.answer = answered.text
    record.cited_doc_ids = list(answered.cited_doc_ids)
    record.unresolved_citations = unresolved_citations(answered)
    # Text metrics read the words, not the citation tags; a citation of an unknown document supports
    # nothing, so it counts against precision.
    words = strip_citations(answered.text)
    gold = best_gold(words, query.answers)
    record.scored_against = gold
    cited_texts = [docs[doc_id].text if doc_id in docs else "" for doc_id in answered.cited_doc_ids]
    # What the answer's values are checked against: the spans it quotes where the system reports them
    # (what the reader sees beside the claim), else the cited documents.
    backing = list(answered.cited_texts) or cited_texts
    record.metrics.update(
        exact_match=exact_match(words, gold),
        token_f1=token_f1(words, gold),
        answer_contains=answer_contains(words, gold),
        citation_precision=citation_precision(cited_texts, gold),
        citation_recall=citation_recall(answered.cited_doc_ids, query.gold_doc_ids),
        supported_share=0.0 if answered.refused else supported_share(answered.text, backing),
        invented_values=0.0 if answered.refused else float(len(invented_values(answered.text, backing))),
        unresolved_citations=float(len(record.unresolved_citations)),
        refused=float(answered.refused),
    )


def _evaluate_system(
    system: RetrievalSystem,
    dataset: EvalDataset,
    docs_by_site: Mapping[str, Sequence[EvalDoc]],
    k: int,
    metrics: Sequence[str],
    answers: bool,
    progress: Progress,
) -> SystemReport:
    task = progress.add_task(f"{system.name}: indexing", total=len(dataset.queries))
    started = time.perf_counter()
    system.index(docs_by_site)
    index_seconds = time.perf_counter() - started
    progress.update(task, description=f"{system.name}: querying")
    docs = dataset.doc_by_id()
    records: list[QueryRecord] = []
    for query in dataset.queries:
        records.append(_run_query(system, query, k, answers, docs))
        progress.advance(task)
    run = {r.query_id: {doc_id: float(len(r.doc_ids) - rank) for rank, doc_id in enumerate(r.doc_ids)} for r in records}
    qrels = dataset.qrels()
    # Without any gold passages there is nothing to score a ranking against: no retrieval metrics at all
    # (the notes say why), rather than zeros. Otherwise the means are over the judged queries.
    per_query = retrieval_metrics_per_query(run, qrels, metrics) if qrels else {}
    for record in records:
        for metric, values in per_query.items():
            if record.query_id in values:
                record.metrics[metric] = values[record.query_id]
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
        sites_failed=distribution_summary(float(len(record.sites_failed)) for record in records),
        reachable_recall=_reachable_recall(records, qrels, docs_by_site),
        unresolved_citations=sum(len(record.unresolved_citations) for record in answered),
        queries=records,
    )


def _reachable_recall(
    records: Sequence[QueryRecord],
    qrels: Mapping[str, Mapping[str, int]],
    docs_by_site: Mapping[str, Sequence[EvalDoc]],
) -> float | None:
    """Mean share of a query's relevant documents held by the sites it contacted: the recall ceiling that
    site selection leaves. ``None`` when a system contacts sites outside the split (e.g. a pooled index)."""
    site_of = {doc.doc_id: site_id for site_id, docs in docs_by_site.items() for doc in docs}
    shares: list[float] = []
    for record in records:
        gold = qrels.get(record.query_id)
        if not gold:
            continue
        if any(site_id not in docs_by_site for site_id in record.sites_contacted):
            return None
        contacted = set(record.sites_contacted)
        shares.append(sum(site_of.get(doc_id) in contacted for doc_id in gold) / len(gold))
    return _mean(shares) if shares else None


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
    answers: bool = True,
    config: Mapping[str, str] | None = None,
) -> EvalResult:
    """Index ``dataset`` into each system (split as ``sites``, else one site ``all``) and run every query.

    Each system gets up to ``k`` results per query; retrieval metrics whose cutoff exceeds ``k`` (e.g.
    recall@100 when k=10) are left out and said so in ``notes``. With ``answers``, systems that
    implement ``AnsweringSystem`` answer the queries that have a reference answer (one pass of the query
    path gives both the ranking and the answer). ``split_spec``, ``seed``, ``dataset_path``, ``config``
    (e.g. search mode, models) and ``command`` (default: this process's command line) are recorded as
    given, with the machine's load average before and after, since the numbers depend on it.
    """
    if k < 1:
        raise InputError(f"k must be a positive number of results, got {k}")
    names = [system.name for system in systems]
    if len(set(names)) != len(names):
        raise InputError(f"system names must be unique, got {names}")
    docs_by_site = _docs_by_site(dataset, sites)
    metrics, dropped = _metrics_within(k)
    judged = any(query.gold_doc_ids for query in dataset.queries)
    notes = [f"{', '.join(dropped)} not computed: rankings are cut at k={k}"] if dropped and judged else []
    notes += _retrieval_notes(dataset)
    notes += _answer_notes(dataset, systems, answers)
    if dataset.description:
        notes.append(f"Dataset: {dataset.description}")
    load_before = _load_average()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        reports = [_evaluate_system(system, dataset, docs_by_site, k, metrics, answers, bar) for system in systems]
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
        config=dict(config or {}),
        load_average={"before": load_before, "after": _load_average()},
    )


def _retrieval_notes(dataset: EvalDataset) -> list[str]:
    judged = sum(bool(query.gold_doc_ids) for query in dataset.queries)
    if not judged:
        return ["No query has gold passages (relevance judgements): retrieval metrics are left out."]
    if judged < len(dataset.queries):
        return [f"{judged} of {len(dataset.queries)} queries have gold passages; retrieval metrics are over those."]
    return []


def _answer_notes(dataset: EvalDataset, systems: Sequence[RetrievalSystem], answers: bool) -> list[str]:
    with_answer = sum(query.answer is not None for query in dataset.queries)
    if not with_answer:
        return ["No query has a reference answer: answers were not generated and answer metrics are absent."]
    if not answers:
        return [f"{with_answer} queries have reference answers, but answering was turned off (--no-answers)."]
    silent = [system.name for system in systems if not isinstance(system, AnsweringSystem)]
    notes = [
        f"{with_answer} of {len(dataset.queries)} queries have reference answers; answer metrics are over those. "
        "Answers are scored without their citation tags and 'Sources:' lines, against the gold answer they "
        "match best where a query has several. unresolved_citations: citations per answer that name no "
        "passage retrieved for the question."
    ]
    if silent:
        notes.append(f"Systems that do not answer (retrieval metrics only): {', '.join(silent)}.")
    return notes


def _load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the platform has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []
