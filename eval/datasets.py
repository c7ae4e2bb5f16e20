"""Load evaluation datasets (BEIR folders, QA JSON Lines, MaintNorm, NIST excavators) into one shape.

Every loader returns an :class:`EvalDataset`; :func:`load_dataset` picks the loader from the layout it
finds. Malformed files raise ``InputError`` naming the file and the 1-based line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval._records import EvalDataset, EvalDoc, EvalQuery, input_error, read_jsonl
from eval.worklogs import load_maintnorm, load_nist_excavators

__all__ = [
    "EvalDataset",
    "EvalDoc",
    "EvalQuery",
    "load_beir",
    "load_dataset",
    "load_maintnorm",
    "load_nist_excavators",
    "load_qa",
]

_QRELS_HEADER = ("query-id", "corpus-id", "score")


def _required_str(record: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise input_error(path, line, f"field {key!r} is missing or not a non-empty string")
    return value


def _string_metadata(record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    metadata = record.get("metadata", {})
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise input_error(path, line, "field 'metadata' must be a JSON object")
    return metadata


def _gold_answers(record: dict[str, Any], path: Path, line: int, where: str) -> tuple[str, ...]:
    """The gold answers of a question: ``answer`` (a string) and ``answers`` (a list of strings, as
    SQuAD-style sets have), both read; blanks and repeats left out."""
    single = record.get("answer")
    many = record.get("answers", [])
    if single is not None and not isinstance(single, str):
        raise input_error(path, line, f"{where}answer must be a string")
    if not isinstance(many, list) or not all(isinstance(answer, str) for answer in many):
        raise input_error(path, line, f"{where}answers must be a list of strings")
    given = [single] if single is not None else []
    return tuple(dict.fromkeys(answer for answer in [*given, *many] if answer.strip()))


def _load_corpus(path: Path) -> list[EvalDoc]:
    corpus: list[EvalDoc] = []
    seen: set[str] = set()
    for line, record in read_jsonl(path):
        doc_id = _required_str(record, "_id", path, line)
        if doc_id in seen:
            raise input_error(path, line, f"duplicate document id {doc_id!r}")
        seen.add(doc_id)
        text = record.get("text")
        title = record.get("title") or ""
        if not isinstance(text, str) or not isinstance(title, str):
            raise input_error(path, line, "fields 'text' and 'title' must be strings")
        metadata = {str(k): str(v) for k, v in _string_metadata(record, path, line).items()}
        corpus.append(EvalDoc(doc_id=doc_id, title=title, text=text, metadata=metadata))
    return corpus


def _load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read a BEIR qrels TSV; grades <= 0 mean "judged not relevant" and are left out."""
    if not path.is_file():
        raise input_error(path, None, "file not found")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = tuple(part.strip() for part in line.rstrip("\r\n").split("\t"))
            if number == 1:
                if fields != _QRELS_HEADER:
                    raise input_error(path, 1, f"missing header line {'<TAB>'.join(_QRELS_HEADER)!r}")
                continue
            if not line.strip():
                continue
            if len(fields) != 3:
                raise input_error(path, number, f"expected 3 tab-separated fields, found {len(fields)}")
            query_id, doc_id, grade_text = fields
            try:
                grade = int(grade_text)
            except ValueError as error:
                raise input_error(path, number, f"score {grade_text!r} is not an integer") from error
            if grade > 0:
                judged = qrels.setdefault(query_id, {})
                judged[doc_id] = max(grade, judged.get(doc_id, 0))
    return qrels


def load_beir(path: str | Path, split: str = "test") -> EvalDataset:
    """Load a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` (with header).

    As in BEIR, only queries judged in the split are kept. A query's ``metadata.answer`` (a string) and
    ``metadata.answers`` (a list), when present, are its reference answers. Qrels naming unknown queries
    or documents are rejected.
    """
    root = Path(path)
    corpus = _load_corpus(root / "corpus.jsonl")
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels = _load_qrels(qrels_path)
    doc_ids = {doc.doc_id for doc in corpus}
    queries_path = root / "queries.jsonl"
    queries: list[EvalQuery] = []
    for line, record in read_jsonl(queries_path):
        query_id = _required_str(record, "_id", queries_path, line)
        if query_id not in qrels:
            continue
        text = _required_str(record, "text", queries_path, line)
        answers = _gold_answers(_string_metadata(record, queries_path, line), queries_path, line, "metadata.")
        queries.append(EvalQuery(query_id, text, None, qrels[query_id], answers))
    known_queries = {query.query_id for query in queries}
    for query_id, judged in qrels.items():
        if query_id not in known_queries:
            raise input_error(qrels_path, None, f"query id {query_id!r} is not in {queries_path.name}")
        missing = sorted(set(judged) - doc_ids)
        if missing:
            raise input_error(qrels_path, None, f"query {query_id!r} judges unknown documents {missing[:5]}")
    name = root.parent.name if root.name == "beir" else root.name
    return EvalDataset(
        name=name,
        corpus=corpus,
        queries=queries,
        source=str(root),
        description=f"BEIR layout, split {split!r}: relevance labels as distributed with the dataset.",
    )


def load_qa(path: str | Path, corpus_path: str | Path | None = None) -> EvalDataset:
    """Load question-answer JSON Lines ``{id, question, answer | answers: [...], gold?: [doc_id, ...]}``.

    A question needs a gold answer: ``answer`` (a string), ``answers`` (a list; SQuAD-style) or both. The
    corpus is read from ``corpus_path`` or, if absent, from a ``corpus.jsonl`` beside the file (BEIR
    corpus format). Questions without ``gold`` documents have no retrieval metrics (answers only).
    """
    qa_path = Path(path)
    corpus_file = Path(corpus_path) if corpus_path is not None else qa_path.parent / "corpus.jsonl"
    corpus = _load_corpus(corpus_file) if corpus_path is not None or corpus_file.is_file() else []
    doc_ids = {doc.doc_id for doc in corpus}
    queries: list[EvalQuery] = []
    seen: set[str] = set()
    for line, record in read_jsonl(qa_path):
        query_id = _required_str(record, "id", qa_path, line)
        if query_id in seen:
            raise input_error(qa_path, line, f"duplicate question id {query_id!r}")
        seen.add(query_id)
        question = _required_str(record, "question", qa_path, line)
        answers = _gold_answers(record, qa_path, line, "field ")
        if not answers:
            raise input_error(qa_path, line, "needs a gold answer: a non-empty 'answer' or 'answers' list")
        gold = record.get("gold", [])
        if not isinstance(gold, list) or not all(isinstance(doc_id, str) for doc_id in gold):
            raise input_error(qa_path, line, "field 'gold' must be a list of document ids")
        unknown = [doc_id for doc_id in gold if corpus and doc_id not in doc_ids]
        if unknown:
            raise input_error(qa_path, line, f"gold documents not in the corpus: {unknown[:5]}")
        queries.append(EvalQuery(query_id, question, None, dict.fromkeys(gold, 1), answers))
    return EvalDataset(
        name=qa_path.stem,
        corpus=corpus,
        queries=queries,
        source=str(qa_path),
        description="Question-answer pairs with reference answers; gold documents as given in the file"
        + ("." if any(query.gold_doc_ids for query in queries) else " (none given: no retrieval metrics)."),
    )


def _is_maintnorm(root: Path) -> bool:
    return any(root.glob("company_*/*.norm")) or any(root.glob("data/company_*/*.norm"))


def load_dataset(path: str | Path, split: str = "test", seed: int = 0) -> EvalDataset:
    """Load a dataset, choosing the loader from the layout found at ``path``.

    Accepted: a BEIR folder (or a folder holding ``beir/``), a ``.jsonl`` QA file, a MaintNorm folder
    (``company_*/<split>.norm``, optionally under ``data/``) and the NIST excavators CSV (or its folder).
    ``seed`` draws the synthetic queries of the work-order logs (the other datasets ship their queries).
    """
    root = Path(path)
    if root.is_file():
        if root.suffix == ".jsonl":
            return load_qa(root)
        if root.suffix == ".csv":
            return load_nist_excavators(root, seed=seed)
    elif root.is_dir():
        if (root / "corpus.jsonl").is_file() and (root / "queries.jsonl").is_file():
            return load_beir(root, split)
        if (root / "beir" / "corpus.jsonl").is_file():
            return load_beir(root / "beir", split)
        if (root / "excavators-cleaned.csv").is_file():
            return load_nist_excavators(root, seed=seed)
        if _is_maintnorm(root):
            return load_maintnorm(root, seed=seed)
    raise input_error(
        root,
        None,
        "unrecognised dataset layout; expected a BEIR folder (corpus.jsonl, queries.jsonl, qrels/), "
        "a QA .jsonl file, a MaintNorm folder (company_*/*.norm) or excavators-cleaned.csv",
    )
