"""The evaluation dataset's value types and the line-level file readers every loader shares."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_fed.errors import InputError

__all__ = ["EvalDataset", "EvalDoc", "EvalQuery", "input_error", "read_jsonl"]


@dataclass(frozen=True, slots=True)
class EvalDoc:
    """One document of an evaluation corpus; ``metadata`` carries split keys such as company or asset."""

    doc_id: str
    title: str
    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EvalQuery:
    """One question with its reference answers (if any) and graded relevant documents (grade >= 1).

    ``answers`` are all the gold answers (SQuAD-style sets list several); an answer is scored against the
    one it matches best. ``answer`` is the first of them; giving only ``answer`` makes it the one answer.
    """

    query_id: str
    text: str
    answer: str | None = None
    gold_doc_ids: Mapping[str, int] = field(default_factory=dict)
    answers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.answers and self.answer is not None:
            object.__setattr__(self, "answers", (self.answer,))
        elif self.answers and self.answer is None:
            object.__setattr__(self, "answer", self.answers[0])
        elif self.answers and self.answer not in self.answers:
            raise ValueError(f"query {self.query_id!r}: answer {self.answer!r} is not one of answers")


@dataclass(frozen=True, slots=True)
class EvalDataset:
    """A corpus plus queries, with where it came from and how its queries were made.

    ``description`` says honestly how relevance was obtained (human judgements, matched answers or a
    synthetic construction), so that reports never present synthetic numbers as human-judged ones.
    """

    name: str
    corpus: list[EvalDoc]
    queries: list[EvalQuery]
    source: str = ""
    description: str = ""

    def doc_by_id(self) -> dict[str, EvalDoc]:
        """Map each doc id to its document."""
        return {doc.doc_id: doc for doc in self.corpus}

    def qrels(self) -> dict[str, dict[str, int]]:
        """Relevance judgements of the queries that have any, as ``{query_id: {doc_id: grade}}``."""
        return {q.query_id: dict(q.gold_doc_ids) for q in self.queries if q.gold_doc_ids}


def input_error(path: Path, line: int | None, problem: str) -> InputError:
    """An ``InputError`` naming the file (and line, 1-based) and what is wrong with it."""
    where = f"{path}:{line}" if line is not None else str(path)
    return InputError(f"{where}: {problem}")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON Lines file.

    Raises ``InputError`` naming the file and line when a line is not a JSON object.
    """
    if not path.is_file():
        raise input_error(path, None, "file not found")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise input_error(path, number, f"not valid JSON ({error.msg})") from error
            if not isinstance(record, dict):
                raise input_error(path, number, "expected a JSON object")
            yield number, record
