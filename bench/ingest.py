"""Ingest benchmark: whole-pipeline chunks/s beside the raw embedder's chunks/s on the same chunks.

Corpus: the Galaxy S10 manual (its 451 sections written out as one Markdown manual) and the NIST
excavator work orders (5,485 rows, each a document), from ../shared/datasets. Both measurements run in
this process, with the model loaded and warmed first, so the ratio compares like with like. Then it
times the site's search (dense, keyword, hybrid) over the S10 questions.

    .venv/bin/python bench/ingest.py [--datasets ../shared/datasets] [--limit-orders N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from connectors import SourceData, chunk_document, default_connectors, load_documents
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.site import Site
from rag_fed.site.ingest import embed_text

REPO = Path(__file__).resolve().parents[1]


def write_corpus(datasets: Path, out: Path, limit_orders: int | None) -> list[Path]:
    """The S10 manual as Markdown (one ``##`` section per BEIR section) and the excavator log as CSV."""
    sections = [json.loads(line) for line in (datasets / "emanual_s10/beir/corpus.jsonl").open()]
    manual = out / "galaxy-s10-manual.md"
    body = "\n\n".join(f"## {s['title']}\n\n{s['text']}" for s in sections)
    manual.write_text(f"# Galaxy S10 user manual\n\n{body}\n")
    orders = out / "excavator-work-orders.csv"
    lines = (datasets / "nist_excavators_mwo/excavators-cleaned.csv").read_text().splitlines()
    keep = lines if limit_orders is None else lines[: limit_orders + 1]
    orders.write_text("\n".join(keep) + "\n")
    return [manual, orders]


def chunk_texts(files: list[Path], settings: Settings) -> list[str]:
    """The exact texts the pipeline embeds, made with the same loaders and chunker."""
    connectors = default_connectors()
    texts: list[str] = []
    for path in files:
        for doc in load_documents(SourceData.from_path(path, settings.ingest.max_file_bytes), connectors):
            for chunk in chunk_document(doc, settings.ingest.chunk_chars, settings.ingest.chunk_overlap_chars):
                texts.append(embed_text(doc.title, chunk.section, chunk.text))
    return texts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--limit-orders", type=int, default=None, help="use only the first N work orders")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        files = write_corpus(args.datasets, corpus, args.limit_orders)
        settings = Settings(data_dir=root / "data")
        embedder = load_embedder(settings.embedder)
        embedder.embed(["warm-up so neither measurement pays for loading the model"] * 8)

        texts = chunk_texts(files, settings)
        started = time.perf_counter()
        for start in range(0, len(texts), settings.ingest.batch_chunks):
            embedder.embed(texts[start : start + settings.ingest.batch_chunks])
        raw_seconds = time.perf_counter() - started

        Site.init("bench", settings)
        with Site.open("bench", settings, embedder=embedder) as site:
            report = site.ingest(files)
            pipeline_seconds = report.seconds
            if report.failed or report.chunks != len(texts):
                raise SystemExit(
                    f"ingest failed or chunk counts differ: {report.failed} {report.chunks} vs {len(texts)}"
                )
            raw_rate = len(texts) / raw_seconds
            pipeline_rate = report.chunks / pipeline_seconds
            print(f"corpus: {len(files)} files, {report.documents} documents, {report.chunks} chunks")
            print(f"raw embedder      : {raw_rate:8.1f} chunks/s ({raw_seconds:.1f} s)")
            print(f"ingest pipeline   : {pipeline_rate:8.1f} chunks/s ({pipeline_seconds:.1f} s)")
            print(f"pipeline / raw    : {pipeline_rate / raw_rate:8.3f}  (goal >= 0.90)")

            queries = [json.loads(line)["text"] for line in (args.datasets / "emanual_s10/beir/queries.jsonl").open()]
            for mode in ("dense", "keyword", "hybrid"):
                latencies = []
                for query in queries * 4:
                    started = time.perf_counter()
                    site.search(query, 10, mode)  # type: ignore[arg-type]
                    latencies.append((time.perf_counter() - started) * 1000)
                print(
                    f"search {mode:<7}: p50 {statistics.median(latencies):6.2f} ms  "
                    f"p95 {percentile(latencies, 95):6.2f} ms  over {len(latencies)} queries "
                    f"at {site.chunk_count} chunks (includes embedding the query)"
                )


if __name__ == "__main__":
    main()
