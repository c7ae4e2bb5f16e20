"""The sample federation shipped with rag-fed (package data), for ``ragfed demo``, tests and docs.

Three fictional plants of one industrial group, each with its own manuals (Markdown, HTML, text, PDF)
and a work-order log sliced from a public dataset. ``federation/README.md`` describes the contents,
sources and licenses; ``federation/sites.json`` lists each site's files and log columns;
``federation/questions.jsonl`` holds questions with gold answers, gold passages and the strings a correct
answer must contain; ``federation/unanswerable.jsonl`` holds questions the documents do not answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GoldPassage",
    "SampleQuestion",
    "SampleSite",
    "UnanswerableQuestion",
    "WorkOrderLog",
    "federation_dir",
    "load_questions",
    "load_sites",
    "load_unanswerable",
]


def federation_dir() -> Path:
    """The folder holding one sub-folder per sample site (``plant-north``, ``plant-south``, ...)."""
    return Path(__file__).resolve().parent / "federation"


@dataclass(frozen=True)
class WorkOrderLog:
    """A site's work-order log and which of its columns mean what (``None`` = not present)."""

    path: Path
    id: str | None
    text: tuple[str, ...]
    asset: str | None
    date: str | None
    order_type: str | None


@dataclass(frozen=True)
class SampleSite:
    id: str
    name: str
    description: str
    root: Path
    manuals: tuple[Path, ...]
    work_orders: WorkOrderLog

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file to ingest for this site: manuals, then the work-order log (not LICENSE/SOURCE)."""
        return (*self.manuals, self.work_orders.path)


@dataclass(frozen=True)
class GoldPassage:
    """Where an answer is found. ``file`` is relative to the site folder; ``section`` is a heading,
    a PDF page number (``"3"``), a log record's ``wo_id`` or ``"row N"`` (1-based CSV data row)."""

    site: str
    file: str
    section: str
    contains: str


@dataclass(frozen=True)
class SampleQuestion:
    """An answerable question with its short gold ``answer`` and the ``gold`` passages that hold it.

    ``expected`` lists short strings (values, codes, part numbers, key phrases) that a correct answer
    must contain verbatim; each occurs in the text of one of the gold passages.
    """

    id: str
    question: str
    answer: str
    gold: tuple[GoldPassage, ...]
    tags: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()

    @property
    def sites(self) -> tuple[str, ...]:
        """The sites holding gold passages, in order of first appearance."""
        return tuple(dict.fromkeys(passage.site for passage in self.gold))


@dataclass(frozen=True)
class UnanswerableQuestion:
    """A question the documents do not answer, so a system should say so rather than answer it.

    ``tags`` holds ``"other-equipment"`` (about equipment or products the documents do not cover) or
    ``"near-miss"`` (documented equipment, but a specification or procedure the documents do not give).
    ``why`` says in one sentence why the documents do not answer it.
    """

    id: str
    question: str
    why: str
    tags: tuple[str, ...] = ()

    @property
    def near_miss(self) -> bool:
        """True if the question is about documented equipment (the harder kind to refuse)."""
        return "near-miss" in self.tags


def load_sites(root: Path | None = None) -> list[SampleSite]:
    """Read ``sites.json`` of the sample federation (or of a copy of it at ``root``)."""
    base = root or federation_dir()
    manifest = json.loads((base / "sites.json").read_text(encoding="utf-8"))
    sites = []
    for entry in manifest["sites"]:
        site_root = base / entry["id"]
        log = entry["work_orders"]
        columns = log["columns"]
        sites.append(
            SampleSite(
                id=entry["id"],
                name=entry["name"],
                description=entry["description"],
                root=site_root,
                manuals=tuple(site_root / name for name in entry["manuals"]),
                work_orders=WorkOrderLog(
                    path=site_root / log["file"],
                    id=columns["id"],
                    text=tuple(columns["text"]),
                    asset=columns["asset"],
                    date=columns["date"],
                    order_type=columns["order_type"],
                ),
            )
        )
    return sites


def load_questions(root: Path | None = None) -> list[SampleQuestion]:
    """Read ``questions.jsonl`` of the sample federation (or of a copy of it at ``root``)."""
    base = root or federation_dir()
    questions = []
    for line in (base / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        questions.append(
            SampleQuestion(
                id=item["id"],
                question=item["question"],
                answer=item["answer"],
                gold=tuple(GoldPassage(**passage) for passage in item["gold"]),
                tags=tuple(item.get("tags", ())),
                expected=tuple(item.get("expected", ())),
            )
        )
    return questions


def load_unanswerable(root: Path | None = None) -> list[UnanswerableQuestion]:
    """Read ``unanswerable.jsonl`` of the sample federation (or of a copy of it at ``root``).

    ``root`` may also be a ``.jsonl`` file in the same format, such as ``eval_sets/s10_unanswerable.jsonl``
    of the repository.
    """
    base = root or federation_dir()
    path = base if base.is_file() else base / "unanswerable.jsonl"
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        questions.append(
            UnanswerableQuestion(
                id=item["id"],
                question=item["question"],
                why=item["why"],
                tags=tuple(item.get("tags", ())),
            )
        )
    return questions
