"""Where to refuse: the curve the answer composer's refusal threshold (``answers.min_support``) and
its answerability score (``rag_fed.answers.evidence.answerability``) were chosen from.

For every question of two unrelated collections (the sample federation's maintenance manuals and
logs, 3 sites; the Galaxy S10 manual split ``cluster:3``), answerable and unanswerable, the sites'
evidence is cut and ranked as on the query path (in process, hybrid search, 5 passages a site, with the
federation's term statistics as a gateway sends them: ``FederationStats``), and each candidate score of
the best-ranked item is recorded (the item an answer would show; evidence ranks by ``Evidence.score``).
A question refused by the composer's code rules (codes no evidence holds, or asked codes no passage
names) is refused whatever its score; a question that asks for a kind of value (a torque, an interval:
``rag_fed.answers.quantity``) is scored by the best item that gives one
(``rag_fed.answers.ranking.answering``). For each
candidate the script prints:

- the threshold that maximises min(answered rate, declined rate) on one collection, and the rates it
  gives on the *other* one (a threshold that only fits the set it was chosen on is a defect);
- the curve (answered and declined rates per threshold) of the chosen score on both collections.

    .venv/bin/python bench/refusal_curve.py [--datasets ../shared/datasets] [--out curve.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.datasets import load_beir  # noqa: E402
from eval.site_systems import build_sites  # noqa: E402
from eval.splits import split_corpus  # noqa: E402
from indexes.term_counts import QueryTerms  # noqa: E402
from rag_fed.answers.ranking import answering, rank_evidence, select_for_answer  # noqa: E402
from rag_fed.config import AnswerSettings, Settings  # noqa: E402
from rag_fed.embedders import load_embedder, set_embedding_threads  # noqa: E402
from rag_fed.embedders.base import Embedder  # noqa: E402
from rag_fed.protocol import QueryTermStats  # noqa: E402
from rag_fed.samples import federation_dir, load_questions, load_unanswerable  # noqa: E402
from rag_fed.site import Site  # noqa: E402
from rag_fed.term_stats import FederationTermStats  # noqa: E402
from rag_fed.term_stats.publication import PublicationPolicy, build_publication  # noqa: E402
from rag_fed.types import Evidence, Passage  # noqa: E402

Item = dict[str, float]
Candidate = Callable[[Item], float]
CANDIDATES: dict[str, Candidate] = {
    "(sim+cov)/2": lambda i: (max(0.0, i["sim"]) + i["cov"]) / 2,
    "(2sim+cov)/3": lambda i: (2 * max(0.0, i["sim"]) + i["cov"]) / 3,
    "(sim+2cov)/3": lambda i: (max(0.0, i["sim"]) + 2 * i["cov"]) / 3,
    "sim": lambda i: i["sim"],
    "cov": lambda i: i["cov"],
    "passage dense": lambda i: i["dense"],
    "(sim+cov+dense)/3": lambda i: (max(0.0, i["sim"]) + i["cov"] + max(0.0, i["dense"])) / 3,
    "(sim+dense)/2": lambda i: (max(0.0, i["sim"]) + max(0.0, i["dense"])) / 2,
    "sqrt(sim*cov)": lambda i: float(np.sqrt(max(0.0, i["sim"]) * i["cov"])),
}
CHOSEN = "(sim+2cov)/3"


class FederationStats:
    """The federation's term statistics over ``sites``, in process, as a gateway sums them from the sites'
    publications (no floor, no noise: the default policy) and sends them with each hybrid query."""

    def __init__(self, sites: Mapping[str, Site]) -> None:
        self._federation = FederationTermStats()
        for site_id, site in sites.items():
            version, counts = site.term_counts()
            self._federation.update(
                build_publication(
                    site_id, version, counts, self._federation.key, PublicationPolicy(), request_id="0" * 32
                )
            )
        self._terms = QueryTerms()

    def for_question(self, question: str) -> Mapping[str, QueryTermStats]:
        """What each site gets with ``question`` (without the counts of phrases of several tokens)."""
        terms = list(dict.fromkeys(token for _, tokens in self._terms.phrases(question) for token in tokens))
        return self._federation.query_stats(terms)


def searched(
    sites: Mapping[str, Site], embedder: Embedder, question: str, stats: FederationStats | None = None
) -> tuple[list[Passage], list[Evidence]]:
    """Every site's passages for ``question`` (hybrid, 5 a site, with the federation's term statistics
    when given) and the evidence ranked across sites, as on the query path."""
    vector = embedder.embed([question])[0]
    per_site = stats.for_question(question) if stats is not None else {}
    passages: list[Passage] = []
    evidence: list[Evidence] = []
    for site_id, site in sites.items():
        site_stats = per_site.get(site_id)
        found = site.search_with_stats(question, 5, "hybrid", query_vector=vector, term_stats=site_stats).passages
        passages += found
        evidence += site.evidence(question, found, vector, site_stats)
    return passages, rank_evidence(evidence)


def question_features(
    sites: Mapping[str, Site], embedder: Embedder, question: str, stats: FederationStats
) -> dict[str, object]:
    passages, ranked = searched(sites, embedder, question, stats)
    dense = {(p.citation.site_id, p.chunk_id): p.dense_score or 0.0 for p in passages}
    items = [
        {"sim": e.similarity, "cov": e.coverage, "dense": dense.get((e.citation.site_id, e.chunk_id), 0.0)}
        for e in answering(question, ranked)[:5]  # "what torque ...": only items giving a torque
    ]
    # the composer's own code rules (a question about codes no passage names), whatever the score
    selection = select_for_answer(question, ranked, AnswerSettings(min_support=0.0))
    return {"items": items, "codes_found": not selection.refused}


def value(features: Mapping[str, object], candidate: Candidate) -> float:
    items = features["items"]
    assert isinstance(items, list)
    if not features["codes_found"] or not items:
        return -1.0
    return candidate(items[0])  # the best-ranked item that can answer: what the composer shows or refuses


def rates(rows: Sequence[tuple[bool, float]], threshold: float) -> tuple[float, float]:
    answered = [score >= threshold for answerable, score in rows if answerable]
    declined = [score < threshold for answerable, score in rows if not answerable]
    return float(np.mean(answered)), float(np.mean(declined))


def best_threshold(rows: Sequence[tuple[bool, float]]) -> tuple[float, float, float]:
    best = (-1.0, 0.0, 0.0, 0.0)
    for threshold in sorted({score for _, score in rows}):
        answered, declined = rates(rows, threshold)
        if min(answered, declined) > best[0]:
            best = (min(answered, declined), threshold, answered, declined)
    return best[1], best[2], best[3]


def sample_sites(root: Path, embedder: Embedder) -> dict[str, Site]:
    """The sample federation's three sites under ``root``, ingested, keyword index built."""
    settings = Settings(data_dir=root)
    sites = {}
    for site_id in ("plant-north", "plant-south", "plant-east"):
        Site.init(site_id, settings)
        site = Site.open(site_id, settings, embedder=embedder)
        site.ingest([federation_dir() / site_id])
        site.start_keyword_index(wait=None)
        sites[site_id] = site
    return sites


def sample_collection(root: Path, embedder: Embedder) -> list[tuple[bool, dict[str, object]]]:
    sites = sample_sites(root, embedder)
    stats = FederationStats(sites)
    rows = [(True, question_features(sites, embedder, q.question, stats)) for q in load_questions()]
    rows += [(False, question_features(sites, embedder, u.question, stats)) for u in load_unanswerable()]
    for site in sites.values():
        site.close()
    return rows


def s10_collection(root: Path, datasets: Path, embedder: Embedder) -> list[tuple[bool, dict[str, object]]]:
    dataset = load_beir(datasets / "emanual_s10" / "beir")
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    split = split_corpus(dataset, "cluster:3", seed=0)
    sites = build_sites({s: [docs[d] for d in ids] for s, ids in split.items()}, Settings(data_dir=root), embedder)
    stats = FederationStats(sites)
    rows = [(True, question_features(sites, embedder, q.text, stats)) for q in dataset.queries if q.answer]
    unanswerable = load_unanswerable(REPO / "eval_sets" / "s10_unanswerable.jsonl")
    rows += [(False, question_features(sites, embedder, u.question, stats)) for u in unanswerable]
    for site in sites.values():
        site.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    set_embedding_threads(1)
    embedder = load_embedder(Settings().embedder)
    with tempfile.TemporaryDirectory(prefix="ragfed-refusal-") as scratch:
        collections = {
            "sample": sample_collection(Path(scratch) / "sample", embedder),
            "s10": s10_collection(Path(scratch) / "s10", args.datasets, embedder),
        }
    report: dict[str, object] = {}
    print(f"{'score':<20} {'chosen on -> tested on: threshold, answered/declined (chosen set) -> (other set)'}")
    for name, candidate in CANDIDATES.items():
        cells: list[str] = []
        entry: dict[str, object] = {}
        transfers: dict[str, tuple[float, list[float]]] = {}  # side -> (its threshold, other's rates)
        for chosen_on, tested_on in (("sample", "s10"), ("s10", "sample")):
            own = [(a, value(f, candidate)) for a, f in collections[chosen_on]]
            other = [(a, value(f, candidate)) for a, f in collections[tested_on]]
            threshold, answered, declined = best_threshold(own)
            other_answered, other_declined = rates(other, threshold)
            entry[chosen_on] = {
                "threshold": threshold,
                "own": [answered, declined],
                "other": [other_answered, other_declined],
            }
            transfers[chosen_on] = (threshold, [other_answered, other_declined])
            cells.append(
                f"{chosen_on}->{tested_on}: {threshold:.3f}, {answered:.2f}/{declined:.2f} -> "
                f"{other_answered:.2f}/{other_declined:.2f}"
            )
        # what the threshold chosen on one collection keeps on the other, in the worse direction
        worst = min(min(other) for _, other in transfers.values())
        entry["worst_transfer"] = worst
        entry["threshold_move"] = abs(transfers["sample"][0] - transfers["s10"][0])
        report[name] = entry
        print(f"{name:<20} " + " | ".join(cells) + f" | worst transfer {worst:.2f}")
    print(f"\ncurve of {CHOSEN} (threshold: answered/declined on sample | s10)")
    curve = []
    for threshold in np.arange(0.30, 0.71, 0.02):
        row = [round(float(threshold), 2)]
        for collection in collections.values():
            row.extend(rates([(a, value(f, CANDIDATES[CHOSEN])) for a, f in collection], float(threshold)))
        curve.append(row)
        print(f"  {row[0]:.2f}: {row[1]:.2f}/{row[2]:.2f} | {row[3]:.2f}/{row[4]:.2f}")
    report["curve"] = curve
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
