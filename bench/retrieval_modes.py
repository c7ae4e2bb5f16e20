"""Dense vs keyword vs hybrid search at one site: quality on real corpora, latency up to 100k chunks.

Part 1, quality: Cranfield and the Galaxy S10 manual (../shared/datasets, BEIR layout) are each indexed
in one real site (packaged all-MiniLM-L6-v2, FAISS flat, SQLite FTS5); every query is run in the three
modes and scored with ranx (nDCG@10, Recall@10). Documents are ranked by their best chunk.
Part 2, latency: p50/p95 of the site's search (query already embedded) at the corpus sizes of part 1
and at 100k chunks (real texts of both corpora repeated, each copy's vector jittered so they are
distinct; exact flat index, as the default config uses below 50k and bench users can compare).

    .venv/bin/python bench/retrieval_modes.py [--datasets ../shared/datasets] [--big 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from eval.datasets import load_beir
from eval.metrics import retrieval_metrics
from eval.site_systems import build_sites, doc_ranking
from indexes import ChunkDraft, DocumentEntry, SiteStore
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.embedders.base import Embedder
from rag_fed.site import Site, SiteLayout
from rag_fed.types import SearchMode

REPO = Path(__file__).resolve().parents[1]
MODES: tuple[SearchMode, ...] = ("dense", "keyword", "hybrid")


def percentiles(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95))


def time_modes(
    search: dict[SearchMode, object], queries: list[tuple[str, np.ndarray]], k: int
) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for mode in MODES:
        timings = []
        for text, vector in queries:
            started = time.perf_counter()
            search[mode](text, vector, k)  # type: ignore[operator]
            timings.append((time.perf_counter() - started) * 1000)
        out[mode] = percentiles(timings)
    return out


def quality(
    name: str, path: Path, settings: Settings, embedder: Embedder
) -> tuple[list[tuple[str, np.ndarray]], list[str], Site]:
    dataset = load_beir(path)
    site = build_sites({name: dataset.corpus}, settings, embedder)[name]
    qrels = dataset.qrels()
    queries = [q for q in dataset.queries if q.query_id in qrels]
    vectors = embedder.embed([q.text for q in queries])
    print(f"\n{name}: {len(dataset.corpus)} documents, {site.chunk_count} chunks, {len(queries)} judged queries")
    print(f"  {'mode':<8} {'nDCG@10':>8} {'R@10':>8}")
    for mode in MODES:
        run = {}
        for query, vector in zip(queries, vectors, strict=True):
            passages = site.search(query.text, 40, mode, query_vector=vector)
            doc_ids, _ = doc_ranking(passages, 10)
            run[query.query_id] = {doc_id: float(10 - rank) for rank, doc_id in enumerate(doc_ids)}
        metrics = retrieval_metrics(run, qrels, ("ndcg@10", "recall@10"))
        print(f"  {mode:<8} {metrics['ndcg@10']:8.4f} {metrics['recall@10']:8.4f}")
    texts = [q.text for q in queries]
    return list(zip(texts, list(vectors), strict=True)), texts, site


def site_latency(site: Site, queries: list[tuple[str, np.ndarray]]) -> dict[str, tuple[float, float]]:
    searches = {mode: (lambda t, v, k, m=mode: site.search(t, k, m, query_vector=v)) for mode in MODES}
    return time_modes(searches, queries, 10)  # type: ignore[arg-type]


def big_store(root: Path, texts: list[str], vectors: np.ndarray, size: int) -> SiteStore:
    store = SiteStore.open(root / "big", embedder_version="bench", dim=vectors.shape[1], hnsw_threshold=10 * size)
    rng = np.random.default_rng(0)
    per_doc = 100
    for start in range(0, size, per_doc * 20):
        with store.transaction() as transaction:
            for doc_start in range(start, min(start + per_doc * 20, size), per_doc):
                idx = [(doc_start + i) % len(texts) for i in range(per_doc)]
                jitter = vectors[idx] + rng.normal(0, 0.02, (per_doc, vectors.shape[1])).astype(np.float32)
                jitter /= np.linalg.norm(jitter, axis=1, keepdims=True)
                drafts = [ChunkDraft(text=texts[i], ordinal=n) for n, i in enumerate(idx)]
                entry = DocumentEntry(f"doc-{doc_start}", "bench", f"doc {doc_start}", "manual", str(doc_start), "b")
                transaction.put_document(entry, drafts, jitter.astype(np.float32))
    store.checkpoint()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--big", type=int, default=100_000, help="chunks in the latency-only store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data")
        embedder = load_embedder(settings.embedder)
        all_queries: list[tuple[str, np.ndarray]] = []
        latencies = {}
        sites = []
        for name, folder in (("cranfield", "cranfield/beir"), ("s10", "emanual_s10/beir")):
            queries, _, site = quality(name, args.datasets / folder, settings, embedder)
            latencies[f"{name} ({site.chunk_count} chunks)"] = site_latency(site, queries)
            all_queries += queries
            sites.append(site)
        chunk_texts = [c.text for s in sites for c in s._store.docstore.get_chunks(list(s._store.docstore.chunk_ids()))]
        chunk_vectors = embedder.embed(chunk_texts)
        store = big_store(root, chunk_texts, chunk_vectors, args.big)
        big_site = Site(SiteLayout(root / "big"), settings, embedder, store)
        latencies[f"synthetic ({store.count} chunks)"] = site_latency(big_site, all_queries)
        print("\nsearch latency, query already embedded (p50 / p95 ms)")
        for label, by_mode in latencies.items():
            cells = "  ".join(f"{mode} {p50:6.2f}/{p95:6.2f}" for mode, (p50, p95) in by_mode.items())
            overhead = by_mode["hybrid"][0] - max(by_mode["dense"][0], by_mode["keyword"][0])
            print(f"  {label:<40} {cells}   hybrid - slower single mode: {overhead:+.2f} ms")
        big_site.close()
        for site in sites:
            site.close()


if __name__ == "__main__":
    main()
