"""The question sets of ``bench/answers.py`` and the sites they are asked of, built on disk.

``sample``: the sample federation's three plants (real files: PDF, HTML, Markdown, text, CSV, JSONL)
and one central site holding all of them; questions from ``questions.jsonl`` (answerable, gold
sections) and ``unanswerable.jsonl``. ``s10``: the Galaxy S10 manual split ``cluster:3`` and pooled,
its 50 questions and ``eval_sets/s10_unanswerable.jsonl``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eval.datasets import load_beir
from eval.site_systems import build_sites
from eval.splits import split_corpus
from rag_fed.answers.text import normalise
from rag_fed.config import Settings
from rag_fed.embedders import load_embedder
from rag_fed.samples import GoldPassage, federation_dir, load_questions, load_unanswerable
from rag_fed.site import Site
from rag_fed.types import Citation

__all__ = ["AnswerCase", "Topologies", "mean_or_nan", "s10_cases", "sample_cases"]

REPO = Path(__file__).resolve().parents[1]
Topologies = dict[str, dict[str, Path]]
"""topology name -> {site id -> data dir holding that site}"""


@dataclass(frozen=True)
class AnswerCase:
    """One question: its gold answer and expected strings when answerable; how to tell a gold citation."""

    question: str
    answerable: bool
    answer: str = ""
    expected: tuple[str, ...] = ()
    golds: tuple[Callable[[Citation], bool], ...] = field(default=(), compare=False)

    def cites_gold(self, citation: Citation) -> bool:
        return any(gold(citation) for gold in self.golds)

    def gold_recall(self, citations: Sequence[Citation]) -> float:
        if not self.golds:
            return float("nan")
        return sum(any(gold(c) for c in citations) for gold in self.golds) / len(self.golds)


def mean_or_nan(values: Sequence[float]) -> float:
    """The mean, NaN for no values (a metric no question of the set measures)."""
    return sum(values) / len(values) if values else float("nan")


def _sample_gold(gold: GoldPassage) -> Callable[[Citation], bool]:
    """A citation is gold when it names the gold file and its section, page or record."""
    section = gold.section

    def matches(citation: Citation) -> bool:
        if citation.doc_id == gold.file:
            if gold.file.endswith(".pdf"):
                return citation.page == int(section)
            wanted = normalise(section)
            return wanted == normalise(citation.anchor) or wanted in normalise(citation.section)
        record = section.replace("row ", "row-") if section.startswith("row ") else section
        return citation.doc_id == f"{gold.file}/{record}"

    return matches


def sample_cases(root: Path, datasets: Path, limit: int | None) -> tuple[list[AnswerCase], Topologies]:
    del datasets  # the sample federation ships with the package
    settings = Settings(data_dir=root)
    embedder = load_embedder(settings.embedder)
    folders = {site_id: federation_dir() / site_id for site_id in ("plant-north", "plant-south", "plant-east")}
    for site_id, folder in [*folders.items(), ("central", None)]:
        Site.init(site_id, settings)
        with Site.open(site_id, settings, embedder=embedder) as site:
            site.ingest(list(folders.values()) if folder is None else [folder])
    answerable = load_questions()[:limit]
    unanswerable = load_unanswerable()[:limit]
    # File names are unique across the sample plants, so a gold check by file and section serves the
    # federation (whose citations name the plant) and the central site (named "central") alike.
    cases = [
        AnswerCase(q.question, True, q.answer, tuple(q.expected), tuple(_sample_gold(gold) for gold in q.gold))
        for q in answerable
    ] + [AnswerCase(u.question, False) for u in unanswerable]
    topologies: Topologies = {"centralized": {"central": root}, "federated": dict.fromkeys(folders, root)}
    return cases, topologies


def s10_cases(root: Path, datasets: Path, limit: int | None) -> tuple[list[AnswerCase], Topologies]:
    dataset = load_beir(datasets / "emanual_s10" / "beir")
    settings_central = Settings(data_dir=root / "central")
    settings_split = Settings(data_dir=root / "split")
    embedder = load_embedder(settings_central.embedder)
    docs = {doc.doc_id: doc for doc in dataset.corpus}
    split = split_corpus(dataset, "cluster:3", seed=0)
    for settings, by_site in (
        (settings_central, {"central": list(dataset.corpus)}),
        (settings_split, {site_id: [docs[d] for d in ids] for site_id, ids in split.items()}),
    ):
        for site in build_sites(by_site, settings, embedder).values():
            site.close()
    answerable = [q for q in dataset.queries if q.answer][:limit]
    unanswerable = load_unanswerable(REPO / "eval_sets" / "s10_unanswerable.jsonl")[:limit]
    cases = [
        AnswerCase(
            q.text,
            True,
            q.answer or "",
            (),
            tuple(_doc_gold(doc_id) for doc_id in q.gold_doc_ids),
        )
        for q in answerable
    ] + [AnswerCase(u.question, False) for u in unanswerable]
    topologies: Topologies = {
        "centralized": {"central": root / "central"},
        "federated": dict.fromkeys(split, root / "split"),
    }
    return cases, topologies


def _doc_gold(doc_id: str) -> Callable[[Citation], bool]:
    return lambda citation: citation.doc_id == doc_id
