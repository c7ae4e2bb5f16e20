"""Federation-wide term statistics: federated / centralized nDCG@10 in keyword and hybrid mode, with the
sites' own BM25 statistics (as before), with the federation's exact ones, with a floor and with noise,
and what the statistics cost in bytes and latency (docs/term-statistics.md, docs/benchmarks.md).

For each dataset and split, every configuration runs through the evaluation harness (``eval.run_eval``:
real sites, the real router in process, sealed envelopes):

- ``centralized``: one site holding every document (the baseline);
- ``own``: federated, each site scores BM25 with its own counts (no statistics published);
- ``exact``: federated with the federation's statistics, exact counts, no floor;
- ``floor-F``: exact counts, but terms held by fewer than F chunks of a site are not published;
- ``noise-E``: every count noised (discrete Laplace, epsilon E per count) and floored at ``--noise-floor``.

Bytes: the sealed queries and replies (``exact`` minus ``own``: what the statistics add per query) and
the sealed publications (per site). Latency: p50 of the query path without the embedding (route + sites
+ fuse), ``exact`` beside ``own``, and the router's own work for the statistics (hashing the query's
terms and building each site's query), timed alone. With ``--latency``: the query path at k = 5 with and
without the statistics, alternating question by question, p50 and the process's CPU per query.

    .venv/bin/python bench/term_stats.py --out reports/term-stats.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.datasets import load_dataset
from eval.embedding_cache import CachingEmbedder
from eval.federated_systems import FederatedSystem
from eval.results import SystemReport
from eval.runner import run_eval
from eval.site_systems import CentralizedSystem, SystemSetup
from eval.splits import split_corpus
from eval.systems import RetrievalSystem
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder, set_embedding_threads
from rag_fed.embedders.base import Embedder
from rag_fed.term_stats import PublicationPolicy, TermStatsRequest, publication_cost
from rag_fed.types import SearchMode

DATASETS = {
    "cranfield": ("cranfield", ("cluster:3", "random:3")),
    "s10": ("emanual_s10", ("cluster:3", "random:3")),
    "maintnorm": ("maintnorm", ("field:company", "cluster:3", "random:3")),
    "nist": ("nist_excavators_mwo", ("field:asset", "cluster:3", "random:3")),
}
K = 10
METRIC = "ndcg@10"


class _Federated(FederatedSystem):
    """A federated configuration under its own name (the harness wants distinct names)."""

    def __init__(self, setup: SystemSetup, label: str, policy: PublicationPolicy | None) -> None:
        super().__init__(setup, term_stats=policy)
        self._label = label

    @property
    def name(self) -> str:
        return self._label

    def publication_bytes(self) -> list[int]:
        router = self._router
        if router is None or router.term_stats is None:
            return []
        return [len(p.to_bytes()) for p in router.term_stats.federation.publications.values()]

    def stats_overhead_ms(self, questions: Sequence[str]) -> dict[str, float]:
        """The router's own work for the statistics of one question, p50 over ``questions``: tokenise,
        hash, look up and copy per site (``terms``); with the sites' counts of the question's phrases of
        several tokens, asked in one round trip (``with phrases``, over the questions that have some)."""
        router = self._router
        if router is None or router.term_stats is None:
            return {}
        gateway = router.term_stats
        terms, phrases = [], []
        for question in questions:
            started = time.perf_counter()
            for per_site in gateway.for_query(question, "keyword").values():
                per_site.model_dump()
            terms.append((time.perf_counter() - started) * 1000)
            if any(len(tokens) > 1 for _, tokens in gateway._tokenizer.phrases(question)):
                gateway.forget_questions()  # the round trip itself, not the sums remembered from the run
                started = time.perf_counter()
                self._loop.run_until_complete(gateway.with_phrases(question, "keyword", router.clients, 10.0))
                phrases.append((time.perf_counter() - started) * 1000)
        return {
            "terms p50 ms": statistics.median(terms),
            "with phrases p50 ms": statistics.median(phrases) if phrases else 0.0,
            "questions with phrases": len(phrases) / len(questions),
        }

    def interleaved_p50_ms(self, questions: Sequence[str], k: int, rounds: int = 3) -> dict[str, float]:
        """p50 ms of the router's query (3 sites in process, sealed, embedding excluded) with the
        federation's statistics and without them, alternating question by question so that both see
        the same machine; and the process's CPU ms per query in each arm (all threads: the router and the
        three sites), which a loaded machine stretches less than the wall clock."""
        router = self._router
        if router is None or router.term_stats is None:
            return {}
        kept, embedder, mode = router.term_stats, self._setup.embedder, self._setup.mode
        vectors = embedder.embed(list(questions))
        timings: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, float] = {True: 0.0, False: 0.0}
        try:
            for turn in range(rounds):
                for number, (question, vector) in enumerate(zip(questions, vectors, strict=True)):
                    for use in (True, False) if (turn + number) % 2 == 0 else (False, True):
                        router.term_stats = kept if use else None
                        started, cpu_started = time.perf_counter(), time.process_time()
                        self._loop.run_until_complete(
                            router.query(question, vector, embedder.model_version, k=k, mode=mode, want_answer=False)
                        )
                        timings[use].append((time.perf_counter() - started) * 1000)
                        cpu[use] += time.process_time() - cpu_started
        finally:
            router.term_stats = kept
        asked = rounds * len(questions)
        return {
            "with": statistics.median(timings[True]),
            "without": statistics.median(timings[False]),
            "added": statistics.median(timings[True]) - statistics.median(timings[False]),
            "cpu with": cpu[True] * 1000 / asked,
            "cpu without": cpu[False] * 1000 / asked,
        }

    def phrase_round_trip_bytes(self, question: str) -> int:
        """Sealed bytes up and down, over all sites, of one question's phrase counts."""
        router = self._router
        if router is None or router.term_stats is None:
            return 0
        gateway, total = router.term_stats, 0
        for client in router.clients.values():
            request = TermStatsRequest.for_key(gateway.federation.key, "bench").model_copy(
                update={"question": question}
            )
            sealed = router.channel.seal_to(request.to_bytes(), client.site_id)
            reply = self._loop.run_until_complete(client.fetch_term_stats(sealed, 10.0))  # type: ignore[attr-defined]
            total += len(sealed) + len(reply)
        return total


def _configs(setup_for: Callable[[str], SystemSetup], args: argparse.Namespace) -> list[RetrievalSystem]:
    floor, epsilon = args.floor, args.epsilon
    return [
        CentralizedSystem(setup_for("centralized")),
        _Federated(setup_for("own"), "own", None),
        _Federated(setup_for("exact"), "exact", PublicationPolicy()),
        _Federated(setup_for("floor"), f"floor-{floor}", PublicationPolicy(floor=floor)),
        _Federated(
            setup_for("noise"), f"noise-{epsilon:g}", PublicationPolicy(floor=args.noise_floor, epsilon=epsilon)
        ),
    ]


def _path_p50(report: SystemReport) -> float:
    """p50 ms of one query without its embedding: the runner's wall clock around the call, less ``embed``."""
    paths = [r.timings_ms.get("total", 0.0) - r.timings_ms.get("embed", 0.0) for r in report.queries]
    return float(statistics.median(paths)) if paths else 0.0


def run_one(
    name: str,
    folder: Path,
    split: str,
    mode: SearchMode,
    embedder: Embedder,
    cache: CachingEmbedder,
    args: argparse.Namespace,
) -> dict[str, object]:
    data = load_dataset(folder, seed=0)
    sites = split_corpus(data, split, seed=0)
    with tempfile.TemporaryDirectory(prefix="ragfed-term-stats-") as scratch:

        def setup_for(label: str) -> SystemSetup:
            settings = Settings(data_dir=Path(scratch) / label)  # each configuration its own sites
            return SystemSetup(settings=settings, embedder=embedder, mode=mode, index_embedder=cache, deadline_s=300.0)

        systems = _configs(setup_for, args)
        try:
            result = run_eval(data, systems, k=K, sites=sites, split_spec=split, seed=0, progress=False, answers=False)
            reports = {report.name: report for report in result.systems}
            central = reports["centralized"].retrieval[METRIC]
            row: dict[str, object] = {
                "dataset": name,
                "split": split,
                "mode": mode,
                "sites": {site: len(docs) for site, docs in sites.items()},
                "centralized": central,
            }
            for label, report in reports.items():
                row[f"{label} {METRIC}"] = report.retrieval[METRIC]
                row[f"{label} ratio"] = report.retrieval[METRIC] / central if central else None
                row[f"{label} bytes up p50"] = report.bytes_sent.get("p50")
                row[f"{label} bytes down p50"] = report.bytes_received.get("p50")
                row[f"{label} path p50 ms"] = _path_p50(report)
            exact = next(s for s in systems if s.name == "exact")
            assert isinstance(exact, _Federated)
            row["publication bytes"] = exact.publication_bytes()
            overhead = exact.stats_overhead_ms([q.text for q in data.queries])
            row.update(overhead)
            with_phrases = [q.text for q in data.queries if "-" in q.text] or [data.queries[0].text]
            row["phrase round trip bytes"] = exact.phrase_round_trip_bytes(with_phrases[0])
            if args.latency:
                questions = [q.text for q in data.queries]
                row["interleaved p50 ms, k=5"] = exact.interleaved_p50_ms(questions, 5, args.latency_rounds)
            noisy = next(s for s in systems if s.name.startswith("noise-"))
            assert isinstance(noisy, _Federated)
            row["noisy publication bytes"] = noisy.publication_bytes()
        finally:
            for system in systems:
                close = getattr(system, "close", None)
                if callable(close):
                    close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    parser.add_argument("--only", nargs="*", choices=sorted(DATASETS), default=sorted(DATASETS))
    parser.add_argument("--modes", nargs="*", choices=("keyword", "hybrid"), default=["keyword", "hybrid"])
    parser.add_argument("--splits", nargs="*", default=None, help="only these splits (e.g. random:3); default: all")
    parser.add_argument("--floor", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--noise-floor", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=Path("data/eval-cache"), help="folder of embedding caches")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--latency", action="store_true", help="also time queries with and without, interleaved")
    parser.add_argument("--latency-rounds", type=int, default=3, help="rounds of all questions for --latency")
    args = parser.parse_args()
    set_embedding_threads(1)
    embedder = load_embedder(Settings().embedder)
    rows = []
    args.cache.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        folder, splits = DATASETS[name]
        cache = CachingEmbedder(embedder)
        cache_file = args.cache / f"{name}.npz"
        if cache_file.is_file():
            cache.load(cache_file)
        for split in splits:
            if args.splits is not None and split not in args.splits:
                continue
            for mode in args.modes:
                started = time.perf_counter()
                row = run_one(name, args.datasets / folder, split, mode, embedder, cache, args)
                row["seconds"] = time.perf_counter() - started
                rows.append(row)
                print(_line(row), flush=True)
                if "interleaved p50 ms, k=5" in row:
                    print(f"  query path p50 at k=5, interleaved: {row['interleaved p50 ms, k=5']}", flush=True)
                cache.save(cache_file)
                if args.out is not None:
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps({"rows": rows, "args": _args(args)}, indent=1, default=str))
    cost = publication_cost(args.epsilon, args.noise_floor, 100, 1)
    print(
        f"noise-{args.epsilon:g}: epsilon {cost.epsilon_per_count:g} per (term, chunk) count; for a chunk of 100 "
        f"distinct terms {cost.epsilon_per_chunk:g} with delta {cost.delta_per_chunk:.2g} (floor {args.noise_floor})"
    )


def _args(args: argparse.Namespace) -> dict[str, object]:
    return {key: str(value) for key, value in vars(args).items()}


def _line(row: dict[str, object]) -> str:
    labels = [key.removesuffix(" ratio") for key in row if key.endswith(" ratio")]
    ratios = "  ".join(f"{label} {row[label + ' ratio']:.4f}" for label in labels if label != "centralized")
    return (
        f"{row['dataset']:<9} {row['split']:<13} {row['mode']:<7} centralized {row['centralized']:.4f}  {ratios}"
        f"  | up +{_delta(row, 'bytes up')} B, down +{_delta(row, 'bytes down')} B, path p50 exact "
        f"{row['exact path p50 ms']:.1f} vs own {row['own path p50 ms']:.1f} ms, router stats "
        f"{row['terms p50 ms']:.3f} ms, with phrases {row['with phrases p50 ms']:.2f} ms "
        f"({row['questions with phrases']:.0%} of questions, {row['phrase round trip bytes']} B), "
        f"publications {row['publication bytes']} B"
    )


def _delta(row: dict[str, object], what: str) -> str:
    exact, own = row.get(f"exact {what} p50"), row.get(f"own {what} p50")
    if not isinstance(exact, float | int) or not isinstance(own, float | int):
        return "?"
    return f"{exact - own:.0f}"


if __name__ == "__main__":
    main()
