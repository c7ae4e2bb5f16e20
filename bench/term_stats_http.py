"""Federation-wide term statistics over real HTTP: what they add to a question's latency at 3 sites, and
what the round trip for the counts of a question's phrases of several tokens costs (docs/term-statistics.md).

A dataset is split into 3 sites (``cluster:3``, seed 0, as bench/term_stats.py), each served by its own
site service process on loopback (``api.site_service``, real sealing, FastAPI, SQLite, FAISS); this process
plays the gateway: ``Router.query`` over ``HttpSiteClient``, the federation's statistics fetched from the
sites at start (``refresh_term_stats``). Per mode (hybrid, keyword), every question is asked in turn
(``--rounds`` rounds, the arms' order alternating question by question, so all arms see the same machine):

- ``without``: no statistics (each site scores with its own counts, the behaviour before);
- ``with``: the federation's statistics, the phrase counts of a question remembered (every later asking
  of a question while no site's index changed: the gateway's steady state);
- ``with, phrases asked``: the same, but the remembered phrase counts forgotten first, so a question with
  a phrase of several tokens (``boundary-layer``, ``F-217``) pays the extra round trip, as on its first
  asking; only over the questions that have one.

And the round trip alone (``GatewayTermStats.with_phrases`` with nothing remembered: sealed to every site at
once, answered, opened and summed), with its sealed bytes up and down over all sites.

    .venv/bin/python bench/term_stats_http.py [--dataset cranfield] [--rounds 3] [--k 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._services import services, site_service_spec  # noqa: E402
from eval.datasets import load_dataset  # noqa: E402
from eval.embedding_cache import CachingEmbedder  # noqa: E402
from eval.runner import _docs_by_site  # noqa: E402
from eval.site_systems import build_sites  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from rag_fed.config import Settings  # noqa: E402
from rag_fed.crypto import KeyPair  # noqa: E402
from rag_fed.embedders import load_embedder, set_embedding_threads  # noqa: E402
from rag_fed.router import HttpSiteClient, Router, RoutingPolicy  # noqa: E402
from rag_fed.router.clients import site_http_client  # noqa: E402
from rag_fed.router.term_stats import GatewayTermStats  # noqa: E402
from rag_fed.term_stats import TermStatsRequest  # noqa: E402
from rag_fed.types import SearchMode  # noqa: E402

DATASETS = {"cranfield": "cranfield", "s10": "emanual_s10", "maintnorm": "maintnorm", "nist": "nist_excavators_mwo"}
Arm = str


def _p50(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def has_phrase(gateway: GatewayTermStats, question: str) -> bool:
    return any(len(tokens) > 1 for _, tokens in gateway._tokenizer.phrases(question))


async def timed_query(
    router: Router, question: str, vector: NDArray[np.float32], version: str, k: int, mode: SearchMode
) -> float:
    started = time.perf_counter()
    result = await router.query(question, vector, version, k=k, mode=mode, want_answer=False)
    elapsed = (time.perf_counter() - started) * 1000
    failed = [site.error for site in result.sites if site.status != "answered"]
    if failed:
        raise RuntimeError(f"sites failed: {failed}")
    return elapsed


async def interleaved(
    router: Router,
    questions: Sequence[str],
    vectors: NDArray[np.float32],
    version: str,
    k: int,
    mode: SearchMode,
    rounds: int,
) -> dict[Arm, list[float]]:
    """Each question asked without, with and (if it has a phrase) with the phrase counts asked anew, in an
    order that turns question by question; returns the milliseconds of each arm."""
    gateway = router.term_stats
    assert gateway is not None
    times: dict[Arm, list[float]] = {"without": [], "with": [], "with, phrases asked": []}
    for question, vector in zip(questions[:3], vectors[:3], strict=False):  # warm-up: connections, caches
        await timed_query(router, question, vector, version, k, mode)
    turn = 0
    for _ in range(rounds):
        for question, vector in zip(questions, vectors, strict=True):
            arms = ["without", "with"] + (["with, phrases asked"] if has_phrase(gateway, question) else [])
            turn += 1
            for arm in arms[turn % len(arms) :] + arms[: turn % len(arms)]:
                router.term_stats = None if arm == "without" else gateway
                if arm == "with, phrases asked":
                    gateway.forget_questions()  # as on the question's first asking
                elif arm == "with":
                    await gateway.with_phrases(question, mode, router.clients, 10.0)  # remembered, as in steady state
                times[arm].append(await timed_query(router, question, vector, version, k, mode))
            router.term_stats = gateway
    return times


async def phrase_round_trip(
    router: Router, questions: Sequence[str], mode: SearchMode, rounds: int
) -> dict[str, float]:
    """``with_phrases`` with nothing remembered, over the questions with a phrase: p50 ms and sealed bytes."""
    gateway = router.term_stats
    assert gateway is not None
    phrased = [q for q in questions if has_phrase(gateway, q)]
    times = []
    for _ in range(rounds):
        for question in phrased:
            gateway.forget_questions()
            started = time.perf_counter()
            stats = await gateway.with_phrases(question, mode, router.clients, 10.0)
            times.append((time.perf_counter() - started) * 1000)
            assert all(s.phrases for s in stats.values()), f"no phrase counts for {question!r}"
    sizes = []
    for question in phrased[:20]:
        total = 0
        for client in router.clients.values():
            request = TermStatsRequest.for_key(gateway.federation.key, "bench").model_copy(
                update={"question": question}
            )
            sealed = router.channel.seal_to(request.to_bytes(), client.site_id)
            assert isinstance(client, HttpSiteClient)
            total += len(sealed) + len(await client.fetch_term_stats(sealed, 10.0))
        sizes.append(total)
    return {
        "questions with phrases": len(phrased),
        "share of questions": len(phrased) / len(questions),
        "p50 ms": _p50(times),
        "p95 ms": float(np.percentile(times, 95)) if times else float("nan"),
        "bytes p50": _p50(sizes),
    }


async def measure(
    urls: dict[str, str],
    gateway: KeyPair,
    site_keys: dict[str, KeyPair],
    questions: Sequence[str],
    vectors: NDArray[np.float32],
    version: str,
    args: argparse.Namespace,
) -> dict[str, object]:
    report: dict[str, object] = {}
    async with site_http_client() as http:
        clients = [HttpSiteClient(sid, url, http) for sid, url in sorted(urls.items())]
        keys = {sid: site_keys[sid].public_key for sid in urls}
        router = Router(
            keys=gateway,
            gateway_id="gateway",
            site_keys=keys,
            clients=clients,
            policy=RoutingPolicy(deadline_s=60, straggler_grace_s=60),
        )
        errors = await router.refresh_term_stats(timeout_s=60)
        assert not any(errors.values()), errors
        for mode in args.modes:
            times = await interleaved(router, questions, vectors, version, args.k, mode, args.rounds)
            row: dict[str, Any] = {arm: {"p50 ms": _p50(values), "n": len(values)} for arm, values in times.items()}
            row["added p50 ms"] = row["with"]["p50 ms"] - row["without"]["p50 ms"]
            report[mode] = row
            print(
                f"{mode:8} k={args.k}: without {row['without']['p50 ms']:.2f} ms, with {row['with']['p50 ms']:.2f} ms "
                f"(added {row['added p50 ms']:+.2f} ms, {row['with']['n']} queries); with the phrase counts asked anew "
                f"{row['with, phrases asked']['p50 ms']:.2f} ms over {row['with, phrases asked']['n']} queries; "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        trip = await phrase_round_trip(router, questions, args.modes[0], args.rounds)
        report["phrase round trip"] = trip
        print(
            f"phrase round trip alone (3 sites, HTTP, nothing remembered): p50 {trip['p50 ms']:.2f} ms, "
            f"p95 {trip['p95 ms']:.2f} ms, {trip['bytes p50']:.0f} B sealed up and down; "
            f"{trip['questions with phrases']} questions ({trip['share of questions']:.0%}) have a phrase",
            flush=True,
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cranfield")
    parser.add_argument("--split", default="cluster:3")
    parser.add_argument("--modes", nargs="+", choices=("hybrid", "keyword"), default=["hybrid", "keyword"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=5, help="passages per question (the gateway's default k)")
    parser.add_argument("--questions", type=int, default=None, help="only the first N questions")
    parser.add_argument("--cache", type=Path, default=Path("data/eval-cache"), help="folder of embedding caches")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    print("load at start:", os.getloadavg(), flush=True)
    set_embedding_threads(1)
    embedder = load_embedder(Settings().embedder)
    cache = CachingEmbedder(embedder)
    cache_file = args.cache / f"{args.dataset}.npz"
    if cache_file.is_file():
        cache.load(cache_file)
    data = load_dataset(args.datasets / DATASETS[args.dataset], seed=0)
    split = split_corpus(data, args.split, seed=0)
    questions = [q.text for q in data.queries][: args.questions]
    vectors = embedder.embed(questions)
    with tempfile.TemporaryDirectory(prefix="ragfed-term-stats-http-") as scratch:
        tmp = Path(scratch)
        sites = build_sites(_docs_by_site(data, split), Settings(data_dir=tmp / "sites"), cache)
        args.cache.mkdir(parents=True, exist_ok=True)
        cache.save(cache_file)
        site_keys = {sid: KeyPair.load(site.layout.keys_dir) for sid, site in sites.items()}
        print({sid: site.chunk_count for sid, site in sites.items()}, "chunks", flush=True)
        for site in sites.values():
            site.close()
        gateway = KeyPair.generate()
        gateway.save(tmp / "gateway" / "keys")
        gateway_key = tmp / "gateway" / "keys" / "public.key"
        specs = [site_service_spec(sid, sid, tmp / "sites", gateway_key) for sid in sorted(sites)]
        with services(specs, tmp) as urls:
            report = asyncio.run(
                measure(
                    dict(zip(sorted(sites), urls, strict=True)),
                    gateway,
                    site_keys,
                    questions,
                    vectors,
                    embedder.model_version,
                    args,
                )
            )
    report["args"] = {key: str(value) for key, value in vars(args).items()}
    print("load at end:", os.getloadavg())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
