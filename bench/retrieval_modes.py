"""Dense vs keyword vs hybrid search at one site: quality on real corpora, latency up to 100k chunks.

Part 1, quality: Cranfield and the Galaxy S10 manual (../shared/datasets, BEIR layout) are each indexed
in one real site (packaged all-MiniLM-L6-v2, FAISS flat, SQLite FTS5); every query is run in the three
modes and scored with ranx (nDCG@10, Recall@10). Documents are ranked by their best chunk.

Part 2, latency: p50/p95 of a site's search with the query already embedded, on both corpora as they are
and on a synthetic store of ``--big`` chunks built from them. The synthetic store copies the real
documents whole (title, sections, chunks; ``--synthetic copies``) or keeps their shape but fills each
chunk with real sentences drawn at random from the same corpus (``--synthetic shuffled``: every text
distinct); vectors are the real chunk vectors with a little noise, so no copy is a duplicate. At that size
the store is measured with an exact flat index and with the index the site itself builds there (HNSW from
``ingest.hnsw_threshold`` on). ``Site.search`` ranks keyword queries with the site's in-memory BM25
index (``indexes/keyword_index.py``, the same scores as FTS5) and runs hybrid with the keyword ranking in
a pool thread while FAISS searches. Baselines in the same run: ``keyword-fts5`` / ``hybrid-fts5`` (FTS5
ranks every keyword query with common terms pruned, as a site does until its in-memory index is built),
``keyword-fts5-all`` (FTS5 with every term) and ``hybrid-seq`` (the two rankings one after the other);
every mode also with FAISS limited to one OpenMP thread. Quality is printed for both rankers (``-fts5``
rows: FTS5 with pruning).

    .venv/bin/python bench/retrieval_modes.py [--datasets ../shared/datasets] [--big 100000]
        [--synthetic copies|shuffled] [--big-queries 150]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from connectors import chunk_document
from eval.datasets import EvalDataset, load_beir
from eval.metrics import retrieval_metrics
from eval.site_systems import build_sites, doc_ranking, to_document
from indexes import ChunkDraft, DocumentEntry, SiteStore
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.site import Site, SiteLayout
from rag_fed.site.ingest import embed_text
from rag_fed.site.search import rank_chunks
from rag_fed.types import SearchMode

REPO = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")
CORPORA = (("cranfield", "cranfield/beir"), ("s10", "emanual_s10/beir"))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
Query = tuple[str, np.ndarray]
Search = Callable[[str, np.ndarray, int], object]


@dataclass(frozen=True)
class RealDocument:
    """One document of a corpus as the site chunks it, with its chunk vectors."""

    title: str
    chunks: list[tuple[str, str]]  # (text, section)
    vectors: np.ndarray


def load_note(label: str) -> str:
    return f"{label}: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def percentiles(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def time_search(search: Search, queries: Sequence[Query], k: int = 10) -> tuple[float, float]:
    timings = []
    for text, vector in queries:
        started = time.perf_counter()
        search(text, vector, k)
        timings.append((time.perf_counter() - started) * 1000)
    return percentiles(timings)


def quality(name: str, dataset: EvalDataset, settings: Settings, embedder: Embedder) -> list[Query]:
    """nDCG@10 and Recall@10 of the three modes in one real site; returns the judged queries, embedded."""
    site = build_sites({name: dataset.corpus}, settings, embedder)[name]
    qrels = dataset.qrels()
    queries = [q for q in dataset.queries if q.query_id in qrels]
    vectors = embedder.embed([q.text for q in queries])
    print(f"\n{name}: {len(dataset.corpus)} documents, {site.chunk_count} chunks, {len(queries)} judged queries")
    print(f"  {'mode':<12} {'nDCG@10':>8} {'R@10':>8}")
    site.start_keyword_index(wait=None)
    # "-fts5": ranked by FTS5 with common query terms pruned, as before the in-memory index is built.
    for mirror, suffix in ((True, ""), (False, "-fts5")):
        site_store(site).docstore.keyword_mirror = mirror
        for mode in MODES if not suffix else MODES[1:]:
            run = {}
            for query, vector in zip(queries, vectors, strict=True):
                passages = site.search(query.text, 40, mode, query_vector=vector)
                doc_ids, _ = doc_ranking(passages, 10)
                run[query.query_id] = {doc_id: float(10 - rank) for rank, doc_id in enumerate(doc_ids)}
            metrics = retrieval_metrics(run, qrels, ("ndcg@10", "recall@10"))
            print(f"  {mode + suffix:<12} {metrics['ndcg@10']:8.4f} {metrics['recall@10']:8.4f}", flush=True)
    site_store(site).docstore.keyword_mirror = True
    site.close()
    return list(zip([q.text for q in queries], list(vectors), strict=True))


def site_store(site: Site) -> SiteStore:
    with site._stores.use() as serving:  # bench only: reach the store the site serves from
        return serving.store


def real_documents(name: str, dataset: EvalDataset, settings: Settings, embedder: Embedder) -> list[RealDocument]:
    """The corpus chunked and embedded exactly as the site's ingest does it."""
    docs = []
    for eval_doc in dataset.corpus:
        document = to_document(eval_doc, name)
        pieces = chunk_document(document, settings.ingest.chunk_chars, settings.ingest.chunk_overlap_chars)
        docs.append((document.title, [(piece.text, piece.section) for piece in pieces]))
    texts = [embed_text(title, section, text) for title, chunks in docs for text, section in chunks]
    vectors = embedder.embed(texts)
    out, offset = [], 0
    for title, chunks in docs:
        out.append(RealDocument(title, chunks, vectors[offset : offset + len(chunks)]))
        offset += len(chunks)
    return out


def synthetic(corpora: Sequence[list[RealDocument]], size: int, shuffled: bool) -> Iterator[RealDocument]:
    """``size`` chunks of documents drawn from the real corpora (see the module docstring)."""
    rng = np.random.default_rng(0)
    pool = [(c, doc) for c, docs in enumerate(corpora) for doc in docs]
    sentences = [
        [s for doc in docs for text, _ in doc.chunks for s in _SENTENCE_END.split(text) if s] for docs in corpora
    ]
    made = 0
    while made < size:
        for index in rng.permutation(len(pool)):
            corpus, doc = pool[index]
            chunks = doc.chunks[: size - made]
            if shuffled:
                chunks = [(fill(sentences[corpus], len(text), rng), section) for text, section in chunks]
            noisy = doc.vectors[: len(chunks)] + rng.normal(0, 0.02, (len(chunks), doc.vectors.shape[1]))
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            yield RealDocument(doc.title, chunks, noisy.astype(np.float32))
            made += len(chunks)
            if made >= size:
                return


def fill(sentences: list[str], length: int, rng: np.random.Generator) -> str:
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < length:
        parts.append(sentences[int(rng.integers(len(sentences)))])
    return " ".join(parts)


def build_store(directory: Path, documents: Iterator[RealDocument], dim: int, hnsw_threshold: int) -> SiteStore:
    store = SiteStore.open(directory, embedder_version="bench", dim=dim, hnsw_threshold=hnsw_threshold)
    batch: list[tuple[int, RealDocument]] = []

    def flush() -> None:
        with store.transaction() as transaction:
            for number, doc in batch:
                entry = DocumentEntry(f"doc-{number}", "bench", doc.title, "manual", str(number), "b")
                drafts = [ChunkDraft(text=t, ordinal=n, section=s) for n, (t, s) in enumerate(doc.chunks)]
                transaction.put_document(entry, drafts, doc.vectors)
        batch.clear()

    for number, doc in enumerate(documents):
        batch.append((number, doc))
        if len(batch) == 500:
            flush()
    if batch:
        flush()
    store.checkpoint()
    return store


def searches(site: Site, store: SiteStore) -> dict[str, Search]:
    def sequential(text: str, vector: np.ndarray, k: int) -> object:
        """What ``Site.search`` does in hybrid mode, with the two rankings one after the other."""
        ranked = rank_chunks(store, text, vector, k, "hybrid", concurrent=False)
        return store.docstore.get_chunks([item.chunk_id for item in ranked])

    def fts5_all(text: str, vector: np.ndarray, k: int) -> object:
        """FTS5 with every query term (no pruning of common terms)."""
        hits = store.docstore.keyword_search(text, k, prune=False)
        return store.docstore.get_chunks([chunk_id for chunk_id, _ in hits])

    def in_mode(mode: SearchMode) -> Search:
        def search(text: str, vector: np.ndarray, k: int) -> object:
            return site.search(text, k, mode, query_vector=vector)

        return search

    def by_fts5(call: Search) -> Search:
        """The same call with FTS5 ranking every keyword query (the in-memory index off): the baseline."""

        def search(text: str, vector: np.ndarray, k: int) -> object:
            store.docstore.keyword_mirror = False
            try:
                return call(text, vector, k)
            finally:
                store.docstore.keyword_mirror = True

        return search

    out: dict[str, Search] = {mode: in_mode(mode) for mode in MODES}
    out["hybrid-seq"] = sequential
    out["keyword-fts5"] = by_fts5(in_mode("keyword"))
    out["keyword-fts5-all"] = by_fts5(fts5_all)
    out["hybrid-fts5"] = by_fts5(in_mode("hybrid"))
    return out


def measure(label: str, site: Site, store: SiteStore, queries: Sequence[Query], skip_keyword: bool = False) -> None:
    """Print one row per FAISS thread setting: p50/p95 ms of every search."""
    started = time.perf_counter()
    if not store.docstore.start_keyword_index(wait=None):
        raise SystemExit("the in-memory keyword index did not build (see the log)")
    print(f"  {label}: in-memory keyword index built in {time.perf_counter() - started:.1f} s", flush=True)
    default_threads = faiss.omp_get_max_threads()
    calls = searches(site, store)
    for threads in sorted({default_threads, 1}, reverse=True):
        faiss.omp_set_num_threads(threads)
        row = {}
        for name, call in calls.items():
            if name.startswith("keyword") and skip_keyword:
                continue
            call(*queries[0], 10)  # warm up
            row[name] = time_search(call, queries)
        cells = "  ".join(f"{name} {p50:6.2f}/{p95:6.2f}" for name, (p50, p95) in row.items())
        dense = row["dense"][0]
        names = ("hybrid", "hybrid-seq", "hybrid-fts5")
        extra = "  ".join(f"{name} - dense {row[name][0] - dense:+.2f}" for name in names)
        ratio = (row["hybrid"][0] - dense) / max(row["hybrid-fts5"][0] - dense, 1e-9)
        print(f"  {label} [{store.index_kind}, faiss threads {threads}]  {cells}", flush=True)
        print(f"      ({extra}; added by hybrid / added by hybrid-fts5 {ratio:.2f}; {load_note('load')})", flush=True)
    faiss.omp_set_num_threads(default_threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--big", type=int, default=100_000, help="chunks in the latency-only store")
    parser.add_argument("--synthetic", choices=("copies", "shuffled"), default="shuffled")
    parser.add_argument("--big-queries", type=int, default=150, help="queries timed on the big store (evenly spread)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data")
        embedder = load_embedder(settings.embedder)
        corpora, all_queries = [], []
        for name, folder in CORPORA:
            dataset = load_beir(args.datasets / folder)
            queries = quality(name, dataset, settings, embedder)
            corpora.append(real_documents(name, dataset, settings, embedder))
            all_queries.append(queries)
        print("\nsearch latency, query already embedded (p50 / p95 ms)")
        print(load_note("before"))
        for (name, _), docs, queries in zip(CORPORA, corpora, all_queries, strict=True):
            store = build_store(root / name, iter(docs), embedder.dim, settings.ingest.hnsw_threshold)
            site = Site(SiteLayout(root / name), settings, embedder, store)
            measure(f"{name} ({store.count} chunks)", site, store, queries)
            site.close()
        queries = [q for group in all_queries for q in group]
        queries = [queries[int(i)] for i in np.linspace(0, len(queries) - 1, min(args.big_queries, len(queries)))]
        started = time.perf_counter()
        documents = synthetic(corpora, args.big, args.synthetic == "shuffled")
        store = build_store(root / "big", documents, embedder.dim, hnsw_threshold=10 * args.big)
        print(f"synthetic store ({args.synthetic}) built in {time.perf_counter() - started:.0f} s; {load_note('now')}")
        site = Site(SiteLayout(root / "big"), settings, embedder, store)
        label = f"synthetic {args.synthetic} ({store.count} chunks)"
        measure(label, site, store, queries)
        site.close()
        # Reopen as the site would at this size: from ingest.hnsw_threshold on, the checkpoint builds HNSW.
        store = SiteStore.open(
            root / "big", embedder_version="bench", dim=embedder.dim, hnsw_threshold=settings.ingest.hnsw_threshold
        )
        started = time.perf_counter()
        store.checkpoint()
        print(f"HNSW index built in {time.perf_counter() - started:.0f} s; {load_note('now')}")
        site = Site(SiteLayout(root / "big"), settings, embedder, store)
        measure(label, site, store, queries, skip_keyword=True)
        site.close()
        print(load_note("after"))


if __name__ == "__main__":
    main()
