"""Why an answer misses what it should say: each answerable question of the sample federation whose
shown answer lacks one of its expected strings, put in the first bucket that explains it.

The sites' evidence is cut and ranked as on the query path (in process, 3 sites, hybrid search, 5
passages a site, the default answer settings), then the composer's choice (``select_for_answer``) is
compared with where the expected strings are (in texts with their citations, as an answer shows
them: a work order's id is in its citation):

- ``refused``: the composer declined (with the rule that declined it: the evidence score under
  ``answers.min_support``, codes no evidence holds, asked codes no passage names, no item giving the
  kind of value asked);
- ``cut from a shown passage``: a passage an item shown was cut from holds every string, the span does not;
- ``in an item not shown``: another evidence item holds every string (the selection left it out);
- ``in a passage without an item``: a retrieved passage holds every string, no shown item came from it;
- ``spread over passages``: every string is in some retrieved passage, no one passage holds them all;
- ``not retrieved``: some string is in no retrieved passage (search, not the composer, missed it).

Baseline in the same run: the first 60 words of the best-scoring retrieved passage (as ``top-passage``
in bench/answers.py, without the gateway's fusion). Prints the counts, the answer-contains rate of both
and their ratio, and one line per miss.

    .venv/bin/python bench/answer_misses.py [--out misses.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.refusal_curve import FederationStats, sample_sites, searched  # noqa: E402
from eval.answer_metrics import contains_all  # noqa: E402
from rag_fed.answers.evidence import answerability  # noqa: E402
from rag_fed.answers.ranking import Selection, select_for_answer, shown_text  # noqa: E402
from rag_fed.answers.text import normalise  # noqa: E402
from rag_fed.config import AnswerSettings, Settings  # noqa: E402
from rag_fed.embedders import load_embedder, set_embedding_threads  # noqa: E402
from rag_fed.samples import load_questions  # noqa: E402
from rag_fed.types import Evidence, Passage  # noqa: E402

TOP_PASSAGE_WORDS = 60
BUCKETS = (
    "contains",
    "refused",
    "cut from a shown passage",
    "in an item not shown",
    "in a passage without an item",
    "spread over passages",
    "not retrieved",
)


@dataclass(frozen=True, slots=True)
class Miss:
    bucket: str
    detail: str = ""


def refusal_detail(selection: Selection, ranked: Sequence[Evidence], settings: AnswerSettings) -> str:
    """The composer's rule that declined (:data:`~rag_fed.answers.ranking.RefusalReason`), with the best
    score when it is the score that declined."""
    if selection.refusal == "below min_support":
        return f"best answerability {answerability(ranked[0]):.3f} < min_support {settings.min_support:.2f}"
    return str(selection.refusal)


def classify(
    question: str,
    expected: Sequence[str],
    ranked: Sequence[Evidence],
    passages: Sequence[Passage],
    settings: AnswerSettings,
) -> Miss:
    """The first bucket of :data:`BUCKETS` that explains whether the answer shows every expected string."""
    selection = select_for_answer(question, ranked, settings)
    shown = selection.items
    if selection.refused:
        return Miss("refused", refusal_detail(selection, ranked, settings))
    if contains_all(" ".join(_as_shown(item) for item in shown), expected):
        return Miss("contains")

    def holds(text: str) -> bool:
        return contains_all(text, expected) > 0

    by_key = {(p.citation.site_id, p.chunk_id): p for p in passages}
    shown_keys = {(item.citation.site_id, item.chunk_id) for item in shown}
    if any(holds(_as_shown(by_key[key])) for key in shown_keys if key in by_key):
        return Miss("cut from a shown passage")
    others = [index for index, item in enumerate(ranked) if item not in shown and holds(_as_shown(item))]
    if others:
        return Miss("in an item not shown", f"rank {others[0]}")
    holding = [p for p in passages if holds(_as_shown(p))]
    if holding:
        return Miss("in a passage without an item", holding[0].citation.label)
    texts = [normalise(_as_shown(p)) for p in passages]
    unfound = [value for value in expected if not any(normalise(value) in text for text in texts)]
    if unfound:
        return Miss("not retrieved", f"{len(unfound)}/{len(expected)}: {unfound}")
    return Miss("spread over passages")


def _as_shown(item: Evidence | Passage) -> str:
    """What an answer shows of an item or passage: its text and its citation (a work order's id is in
    its citation, not in its text)."""
    text = shown_text(item) if isinstance(item, Evidence) else item.text
    return f"{text} {item.citation.label}"


def top_passage(passages: Sequence[Passage]) -> str:
    if not passages:
        return ""
    best = max(passages, key=lambda p: p.score)
    return " ".join(best.text.split()[:TOP_PASSAGE_WORDS]) + f" {best.citation.label}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    set_embedding_threads(1)
    settings = AnswerSettings()
    embedder = load_embedder(Settings().embedder)
    rows: list[dict[str, str]] = []
    baseline = []
    with tempfile.TemporaryDirectory(prefix="ragfed-misses-") as scratch:
        sites = sample_sites(Path(scratch), embedder)
        stats = FederationStats(sites)
        for case in load_questions():
            if not case.expected:
                continue
            passages, ranked = searched(sites, embedder, case.question, stats)
            miss = classify(case.question, case.expected, ranked, passages, settings)
            baseline.append(contains_all(top_passage(passages), case.expected))
            rows.append({"id": case.id, "bucket": miss.bucket, "detail": miss.detail, "question": case.question})
        for site in sites.values():
            site.close()
    counts = Counter(row["bucket"] for row in rows)
    total = len(rows)
    ours = counts["contains"] / total
    top = sum(baseline) / total
    print(f"{total} answerable questions with expected strings")
    for bucket in BUCKETS:
        print(f"  {bucket:<30} {counts[bucket]:>3}  ({counts[bucket] / total:.2f})")
    ratio = ours / top if top else float("nan")
    print(f"answer-contains: composer {ours:.3f}, top passage {top:.3f}, ratio {ratio:.2f}")
    for row in rows:
        if row["bucket"] != "contains":
            print(f"{row['id']:<6} {row['bucket']:<30} {row['detail'][:60]:<60} {row['question'][:70]}")
    if args.out is not None:
        args.out.write_text(json.dumps({"counts": dict(counts), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
