"""The answer path replayed in process, without a model: token F1, answer-contains, citation precision
and refusals of the composed (extractive) answer text on both question sets, beside the top-passage
baseline, for one or more evidence settings in one run.

The sets and sites are those of ``bench/answers.py`` (``bench/_answer_sets.py``: the sample federation
and the Galaxy S10 manual split ``cluster:3``, each also pooled at one central site), opened in process.
Each site is searched (hybrid, 5 passages) once per question; each variant then cuts the evidence from
those passages with its own :class:`~rag_fed.config.EvidenceSettings` and the answer is composed by
:class:`~rag_fed.answers.compose.AnswerComposer` without a generator: the text the default (grounded)
path shows when the model writes no lead, which the packaged model never does within its budget.
BM25 and the evidence's term weights use the federation's term statistics, summed in process as a
gateway sums the sites' publications; the top passage is the first of the router's merge of the sites'
hybrid rankings (``merge_passages``) without the exact fusion over their depth lists, so the federated
baseline differs a little from the gateway's. Metrics as in
``bench/answers.py``: a refused answerable question scores 0 in token F1 and contains; citation
precision is over the answers given.

    .venv/bin/python bench/answer_replay.py [--sets sample s10] [--topologies federated centralized]
        [--variant NAME:FIELD=VALUE,...] [--out replay.json]

``--variant`` sets :class:`~rag_fed.config.EvidenceSettings` fields (``--variant before:list_opening=false``);
``default`` (the settings as they are) is always run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._answer_sets import AnswerCase, mean_or_nan, s10_cases, sample_cases  # noqa: E402
from bench.refusal_curve import FederationStats  # noqa: E402
from eval._text import strip_citations  # noqa: E402
from eval.answer_metrics import RefusalCounts, contains_all  # noqa: E402
from eval.metrics import token_f1  # noqa: E402
from rag_fed.answers.compose import AnswerComposer  # noqa: E402
from rag_fed.answers.evidence import EvidenceSelector  # noqa: E402
from rag_fed.config import AnswerSettings, EvidenceSettings, Settings  # noqa: E402
from rag_fed.embedders import load_embedder, set_embedding_threads  # noqa: E402
from rag_fed.embedders.base import Embedder  # noqa: E402
from rag_fed.router.merge import merge_passages  # noqa: E402
from rag_fed.site import Site  # noqa: E402
from rag_fed.types import Passage  # noqa: E402

TOP_PASSAGE_WORDS = 60


@dataclass
class Tally:
    f1: list[float] = field(default_factory=list)
    contains: list[float] = field(default_factory=list)
    precision: list[float] = field(default_factory=list)
    refusals: RefusalCounts = field(default_factory=RefusalCounts)

    def add(self, case: AnswerCase, text: str, cited: Sequence[bool], refused: bool) -> None:
        self.refusals.add(case.answerable, refused)
        if not case.answerable:
            return
        words = "" if refused else strip_citations(text)
        self.f1.append(token_f1(words, case.answer) if words else 0.0)
        if case.expected:
            self.contains.append(contains_all(words, case.expected) if words else 0.0)
        if not refused:
            self.precision.append(sum(cited) / len(cited) if cited else 0.0)

    def row(self) -> dict[str, float]:
        return {
            "token_f1": mean_or_nan(self.f1),
            "answer_contains": mean_or_nan(self.contains),
            "citation_precision": mean_or_nan(self.precision),
            "declined": self.refusals.recall,
            "answered": self.refusals.answered_rate,
        }


def parse_variant(spec: str) -> tuple[str, EvidenceSettings]:
    """``name:field=value,field=value`` -> (name, settings)."""
    name, _, assignments = spec.partition(":")
    values: dict[str, str] = {}
    for assignment in filter(None, assignments.split(",")):
        key, _, value = assignment.partition("=")
        values[key.strip()] = value.strip()
    return name, EvidenceSettings.model_validate(values)


def open_sites(dirs: Mapping[str, Path], embedder: Embedder) -> dict[str, Site]:
    sites = {}
    for site_id, data_dir in dirs.items():
        site = Site.open(site_id, Settings(data_dir=data_dir), embedder=embedder)
        site.start_keyword_index(wait=None)
        sites[site_id] = site
    return sites


def top_passage(found: Mapping[str, Sequence[Passage]]) -> tuple[str, list[Passage]]:
    """The first 60 words of the best passage as the router merges the sites' rankings."""
    merged = merge_passages(found, 1, "hybrid")
    if not merged:
        return "", []
    best = merged[0]
    return " ".join(best.text.split()[:TOP_PASSAGE_WORDS]) + f" {best.citation.label}", [best]


def replay(
    sites: Mapping[str, Site],
    embedder: Embedder,
    cases: Sequence[AnswerCase],
    variants: Mapping[str, EvidenceSettings],
) -> dict[str, dict[str, float]]:
    tallies = {name: Tally() for name in ["top-passage", *variants]}
    federation = FederationStats(sites)
    for case in cases:
        vector = embedder.embed([case.question])[0]
        stats = federation.for_question(case.question)
        found = {
            site_id: site.search_with_stats(
                case.question, 5, "hybrid", query_vector=vector, term_stats=stats.get(site_id)
            ).passages
            for site_id, site in sites.items()
        }
        rarity = {site_id: site.term_rarity(case.question, stats.get(site_id)) for site_id, site in sites.items()}
        text, best = top_passage(found)
        tallies["top-passage"].add(case, text, [case.cites_gold(p.citation) for p in best], not best)
        for name, evidence_settings in variants.items():
            selector = EvidenceSelector(evidence_settings, embedder)
            evidence = [
                e
                for site_id, site_passages in found.items()
                for e in selector.select(case.question, site_passages, vector, rarity[site_id])
            ]
            settings = AnswerSettings(evidence=evidence_settings)
            answer = AnswerComposer(settings).compose(case.question, evidence, sites=list(sites))
            cited = [case.cites_gold(citation) for citation in answer.citations]
            tallies[name].add(case, answer.text, cited, answer.refused)
    return {name: tally.row() for name, tally in tallies.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["sample", "s10"], choices=["sample", "s10"])
    parser.add_argument("--topologies", nargs="+", default=["federated"], choices=["federated", "centralized"])
    parser.add_argument("--variant", action="append", default=[], help="NAME:FIELD=VALUE,... (EvidenceSettings)")
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    set_embedding_threads(1)
    embedder = load_embedder(Settings().embedder)
    variants = {"default": EvidenceSettings(), **dict(parse_variant(spec) for spec in args.variant)}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ragfed-replay-") as scratch:
        for set_name in args.sets:
            build = sample_cases if set_name == "sample" else s10_cases
            cases, topologies = build(Path(scratch) / set_name, args.datasets, None)
            for topology in args.topologies:
                sites = open_sites(topologies[topology], embedder)
                try:
                    rows = replay(sites, embedder, cases, variants)
                finally:
                    for site in sites.values():
                        site.close()
                for name, row in rows.items():
                    results[f"{set_name} {topology} {name}"] = row
                    print(
                        f"{set_name} {topology} {name}: " + " ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True
                    )
    print(f"\n{'set topology variant':<40}" + "".join(f"{k[:14]:>16}" for k in next(iter(results.values()))))
    for label, row in results.items():
        print(f"{label:<40}" + "".join(f"{value:>16.3f}" for value in row.values()))
    for label, row in results.items():
        base = results[label.rsplit(" ", 1)[0] + " top-passage"]
        if not label.endswith("top-passage") and base["token_f1"] > 0:
            print(f"{label}: token F1 ratio to top-passage {row['token_f1'] / base['token_f1']:.3f}")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
