"""Federated vs centralized retrieval: latency, nDCG@10, bytes per query, site selection, chat latency.

Cranfield (../shared/datasets, BEIR layout) is indexed once centrally (one in-process site) and once split
by topic over 3 and 10 sites (``eval.splits`` ``cluster:N``: seeded k-means on TF-IDF, so the split does
not come from the router's own embedding space). For each split, in one run:

- ``sealed-inproc``: the real router and site responders (envelopes, protocol, egress), handlers called
  in process: compute + crypto + serialisation, no network;
- ``sealed-http``: the same router over ``HttpSiteClient`` to real site service processes on loopback;
- ``gateway-http``: ``POST /v1/query`` of a real gateway process (auth, embedding, audit included),
  compared with ``central+embed``, the central index embedding the question itself;
- site selection (10 sites): the router's sketch rules (top-m, score margin, chunk cover) as a curve of
  the share of sites asked against the nDCG@10 kept (over centralized), in process and over HTTP;
- chat (3 sites): time to first token and to the full answer of ``/v1/chat/completions`` streamed with
  the official openai client, on the embedded models: the default evidence-first path (``chat``) and
  with every site's local model phrasing its evidence too (``chat-site-answers``). Answer quality is
  measured by ``bench/answers.py``.

Retrieval asks 30 chunks and ranks documents by their best chunk; latency excludes the question's
embedding except in ``gateway-http`` and ``central+embed``. Bytes are those of the sealed envelopes
(both ways) between router and sites.

    .venv/bin/python bench/query.py [--sites 3 10] [--chat-questions 5] [--out results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.gateway.keystore import KeyStore, Role  # noqa: E402
from api.site_service import SiteResponder, SiteServiceSettings  # noqa: E402
from bench._chat import stream_chat  # noqa: E402
from bench._services import services, site_service_spec  # noqa: E402
from eval.datasets import EvalDataset, load_beir  # noqa: E402
from eval.metrics import retrieval_metrics  # noqa: E402
from eval.site_systems import build_sites, doc_ranking  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.coordinator.settings import GatewaySettings  # noqa: E402
from rag_fed.crypto import KeyPair  # noqa: E402
from rag_fed.embedders import load_embedder  # noqa: E402
from rag_fed.embedders.base import Embedder  # noqa: E402
from rag_fed.federation import SiteRegistry  # noqa: E402
from rag_fed.router import HttpSiteClient, InProcessSiteClient, Router, RoutingPolicy, SiteClient  # noqa: E402
from rag_fed.site import Site  # noqa: E402
from rag_fed.types import Passage  # noqa: E402

CHUNKS_K = 30  # chunks asked for, then ranked by document: Cranfield abstracts can span several chunks
DOCS_K = 10
Query = tuple[str, str, NDArray[np.float32]]
Row = dict[str, float]
Rule = tuple[str, Mapping[str, object]]
SELECTION_CURVE: list[Rule] = [
    *[(f"top-{m}", {"max_sites": m}) for m in (1, 2, 3, 4)],
    *[(f"margin-{d:.2f}", {"score_margin": d}) for d in (0.06, 0.08, 0.10, 0.12)],
    *[(f"cover-{c}", {"cover_chunks": c}) for c in (40, 60, 80, 120)],
]
DEFAULT_RULE: Rule = ("cover-80", {"cover_chunks": 80})


class CachedEmbedder:
    """The real embedder, remembering vectors by text: the splits re-embed the same chunks."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._cache: dict[str, NDArray[np.float32]] = {}

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def model_version(self) -> str:
        return self._inner.model_version

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self._inner.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


def summary(timings: Sequence[float], rankings: Mapping[str, Sequence[Passage]], dataset: EvalDataset) -> Row:
    run = {}
    for query_id, passages in rankings.items():
        doc_ids, _ = doc_ranking(passages, DOCS_K)
        run[query_id] = {doc_id: float(DOCS_K - i) for i, doc_id in enumerate(doc_ids)}
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p95_ms": float(np.percentile(timings, 95)),
        "ndcg@10": retrieval_metrics(run, dataset.qrels(), ["ndcg@10"])["ndcg@10"],
    }


def bench_central(central: Site, queries: Sequence[Query], dataset: EvalDataset, embed: Embedder | None) -> Row:
    """The central index; with ``embed``, the question is embedded inside the timing (uncached)."""
    timings, rankings = [], {}
    for query_id, text, vector in queries:
        started = time.perf_counter()
        query_vector = embed.embed([text])[0] if embed is not None else vector
        rankings[query_id] = central.search(text, CHUNKS_K, "dense", query_vector=query_vector)
        timings.append((time.perf_counter() - started) * 1000)
    return {**summary(timings, rankings, dataset), "bytes_per_query": 0.0, "share_asked": 1.0}


async def bench_router(router: Router, version: str, queries: Sequence[Query], dataset: EvalDataset) -> Row:
    timings, rankings, sizes, shares = [], {}, [], []
    for query_id, text, vector in queries:
        started = time.perf_counter()
        result = await router.query(text, vector, version, k=CHUNKS_K, mode="dense", want_answer=False)
        timings.append((time.perf_counter() - started) * 1000)
        rankings[query_id] = result.passages
        sizes.append(result.bytes_total)
        asked = [s for s in result.sites if s.status != "skipped"]
        shares.append(len(asked) / len(result.sites))
        assert all(s.status == "answered" for s in asked), [s.error for s in asked if s.error]
    return {
        **summary(timings, rankings, dataset),
        "bytes_per_query": float(np.mean(sizes)),
        "share_asked": float(np.mean(shares)),
    }


async def selection_curve(
    make: Callable[[RoutingPolicy], Router],
    version: str,
    queries: Sequence[Query],
    dataset: EvalDataset,
    rules: Sequence[Rule],
) -> dict[str, Row]:
    rows = {}
    for name, fields in rules:
        router = make(RoutingPolicy.model_validate({"deadline_s": 120, "selection": "sketch", **fields}))
        errors = await router.refresh_sketches()
        assert not any(errors.values()), errors
        rows[name] = await bench_router(router, version, queries, dataset)
    return rows


def bench_gateway(url: str, key: str, queries: Sequence[Query], dataset: EvalDataset) -> Row:
    timings, rankings, sizes = [], {}, []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for query_id, text, _ in queries:
            started = time.perf_counter()
            response = client.post(
                "/v1/query", json={"question": text, "k": CHUNKS_K, "mode": "dense", "want_answer": False}
            )
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            body = response.json()
            rankings[query_id] = [Passage.model_validate(p) for p in body["passages"]]
            sizes.append(body["bytes_total"])
    return {**summary(timings, rankings, dataset), "bytes_per_query": float(np.mean(sizes)), "share_asked": 1.0}


def bench_chat(url: str, key: str, questions: Sequence[str], site_answers: bool = True) -> Row:
    """Streamed chat on the default path, or with the sites' models phrasing their evidence too."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=key, timeout=600, max_retries=0)
    first, total, characters, refusals = [], [], [], []
    for question in questions:
        streamed = stream_chat(client, question, {"site_answers": site_answers})
        first.append(streamed.first_s)
        total.append(streamed.total_s)
        characters.append(len(streamed.text))
        refusals.append(bool(streamed.extras.get("refused", False)))
    return {
        "ttft_p50_s": float(np.percentile(first, 50)),
        "ttft_max_s": float(max(first)),
        "total_p50_s": float(np.percentile(total, 50)),
        "total_max_s": float(max(total)),
        "answer_chars_mean": float(np.mean(characters)),
        "refused_share": float(np.mean(refusals)),
    }


def make_router(
    clients: Sequence[SiteClient], site_keys: Mapping[str, KeyPair], gateway: KeyPair, policy: RoutingPolicy
) -> Router:
    keys = {site_id: pair.public_key for site_id, pair in site_keys.items()}
    return Router(keys=gateway, gateway_id="gateway", site_keys=keys, clients=clients, policy=policy)


async def run_split(
    n_sites: int,
    args: argparse.Namespace,
    dataset: EvalDataset,
    embedder: Embedder,
    queries: Sequence[Query],
    central_ndcg: float,
    tmp: Path,
) -> dict[str, Row]:
    version = embedder.model_version
    split = split_corpus(dataset, f"cluster:{n_sites}", seed=args.seed)
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    data_dir = tmp / f"sites-{n_sites}"
    settings = Settings(data_dir=data_dir)
    sites = build_sites({sid: [docs[d] for d in ids] for sid, ids in split.items()}, settings, embedder)
    home = tmp / f"gateway-{n_sites}"
    gateway_settings = GatewaySettings(home=home)
    gateway = KeyPair.generate()
    gateway.save(gateway_settings.keys_dir)
    site_keys = {sid: KeyPair.load(site.layout.keys_dir) for sid, site in sites.items()}
    rules = SELECTION_CURVE if n_sites >= 10 else [DEFAULT_RULE]
    results: dict[str, Row] = {}
    try:
        responders = {
            sid: SiteResponder(
                site,
                SiteServiceSettings(site_id=sid, gateway_public_key=gateway.public_key_text, egress="passages"),
                site_keys[sid],
                gateway.public_key,
            )
            for sid, site in sites.items()
        }
        inproc = [InProcessSiteClient(sid, r.handle, sketch=r.sketch) for sid, r in responders.items()]
        results["sealed-inproc"] = await bench_router(
            make_router(inproc, site_keys, gateway, RoutingPolicy(deadline_s=120)), version, queries, dataset
        )
        curve = await selection_curve(
            lambda p: make_router(inproc, site_keys, gateway, p), version, queries, dataset, rules
        )
        results.update({f"select-inproc {name}": row for name, row in curve.items()})
    finally:
        for site in sites.values():
            site.close()
    registry = SiteRegistry(gateway_settings.registry_path)
    config = home / "gateway.toml"
    config.write_text(f'home = "{home}"\ndefault_mode = "dense"\n[routing]\ndeadline_s = 120\n')
    site_specs = [
        site_service_spec(f"site-{n_sites}-{sid}", sid, data_dir, gateway_settings.public_key_file) for sid in sites
    ]
    with services(site_specs, tmp) as site_urls:
        for sid, url in zip(sites, site_urls, strict=True):
            registry.register(sid, url, site_keys[sid].public_key_text)
        async with httpx.AsyncClient() as http:
            over_http = [HttpSiteClient(sid, url, http) for sid, url in zip(sites, site_urls, strict=True)]
            results["sealed-http"] = await bench_router(
                make_router(over_http, site_keys, gateway, RoutingPolicy(deadline_s=120)), version, queries, dataset
            )
            http_rules = [DEFAULT_RULE] if n_sites >= 10 else []
            curve = await selection_curve(
                lambda p: make_router(over_http, site_keys, gateway, p), version, queries, dataset, http_rules
            )
            results.update({f"select-http {name}": row for name, row in curve.items()})
        with services([(f"gateway-{n_sites}", ["api.gateway", "--config", str(config)])], tmp) as (gateway_url,):
            key = KeyStore(gateway_settings.database).create(Role.EVALUATOR, None).key
            results["gateway-http"] = bench_gateway(gateway_url, key, queries, dataset)
            if n_sites == 3 and args.chat_questions:
                questions = [q[1] for q in queries[: args.chat_questions]]
                results["chat"] = bench_chat(gateway_url, key, questions, site_answers=False)
                results["chat-site-answers"] = bench_chat(gateway_url, key, questions)
    for row in results.values():
        if "ndcg@10" in row:
            row["ndcg_kept"] = row["ndcg@10"] / central_ndcg
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--sites", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--seed", type=int, default=0, help="seed of the topical split")
    parser.add_argument("--chat-questions", type=int, default=5, help="chat questions at 3 sites (0: skip)")
    parser.add_argument("--max-queries", type=int, help="only the first N queries (smoke runs)")
    parser.add_argument("--max-docs", type=int, help="only the first N documents (smoke runs)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    print("load at start:", os.getloadavg())
    dataset = load_beir(args.datasets / "cranfield" / "beir")
    if args.max_docs:
        dataset = dataclasses.replace(dataset, corpus=dataset.corpus[: args.max_docs])
    raw_embedder = load_embedder(Settings().embedder)
    embedder = CachedEmbedder(raw_embedder)
    judged = list(dataset.queries)[: args.max_queries]
    vectors = embedder.embed([query.text for query in judged])
    queries = [(q.query_id, q.text, vectors[i]) for i, q in enumerate(judged)]
    report: dict[str, Row] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        central = build_sites({"central": dataset.corpus}, Settings(data_dir=tmp / "central"), embedder)["central"]
        try:
            report["centralized"] = bench_central(central, queries, dataset, None)
            report["central+embed"] = bench_central(central, queries, dataset, raw_embedder)
        finally:
            central.close()
        central_ndcg = report["centralized"]["ndcg@10"]
        for n_sites in args.sites:
            for name, values in asyncio.run(
                run_split(n_sites, args, dataset, embedder, queries, central_ndcg, tmp)
            ).items():
                report[f"{name} @{n_sites}"] = values
            print(f"done {n_sites} sites; load {os.getloadavg()}", flush=True)
    print(f"Cranfield, {len(queries)} queries, topical split (seed {args.seed}), retrieval: dense, {CHUNKS_K} chunks")
    print(f"{'system':32} {'p50 ms':>8} {'p95 ms':>8} {'nDCG@10':>8} {'kept':>6} {'bytes/q':>9} {'asked':>6}")
    for name, v in report.items():
        if "ndcg@10" not in v:
            print(f"{name:32} " + " ".join(f"{key}={value:.2f}" for key, value in v.items()))
            continue
        print(
            f"{name:32} {v['p50_ms']:8.1f} {v['p95_ms']:8.1f} {v['ndcg@10']:8.4f} {v.get('ndcg_kept', 1.0):6.3f} "
            f"{v['bytes_per_query']:9.0f} {v['share_asked']:6.3f}"
        )
    print("load at end:", os.getloadavg())
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
