"""Loaders for maintenance work-order logs (MaintNorm, NIST excavators) with synthetic known-item queries.

Neither dataset ships questions, so both loaders build them, seeded and documented in the returned
dataset's ``description``. These queries measure whether a system finds the work orders a query was
made from; they are synthetic and must not be reported as human relevance judgements.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

from eval._records import EvalDataset, EvalDoc, EvalQuery, input_error

__all__ = ["load_maintnorm", "load_nist_excavators"]

_NORM_SPLITS = ("train", "val", "test")
_NIST_COLUMNS = ("BscStartDate", "Asset", "OriginalShorttext", "PMType", "Cost", "MajorSystem", "Part", "FM")
_NIST_LABELS = ("MajorSystem", "Part", "FM")
_PM_TYPE = re.compile(r"PM\d+")


def _read_norm_records(path: Path) -> list[list[tuple[str, str]]]:
    """Records of a ``.norm`` file: blank-line-separated lines of ``raw<TAB>normalised``."""
    records: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if current:
                    records.append(current)
                    current = []
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0]:
                raise input_error(path, number, "expected 'raw<TAB>normalised' (one tab, raw token not empty)")
            current.append((parts[0], parts[1]))
    if current:
        records.append(current)
    return records


def _content_tokens(record: list[tuple[str, str]]) -> tuple[str, ...]:
    """Normalised tokens without masks such as ``<id>`` or ``<num>`` and without deleted tokens."""
    tokens: list[str] = []
    for _, norm in record:
        for token in norm.split():
            if not (token.startswith("<") and token.endswith(">")):
                tokens.append(token.lower())
    return tuple(tokens)


def load_maintnorm(
    path: str | Path, splits: tuple[str, ...] = _NORM_SPLITS, n_queries: int = 200, seed: int = 0
) -> EvalDataset:
    """Load MaintNorm work orders (one document per record, metadata ``company`` and ``split``).

    Document text is the raw tokens joined by spaces. Known-item queries: from the distinct normalised
    token sequences with at least 3 content tokens (masks removed), ``n_queries`` are drawn with
    ``seed``; each query is that sequence with one random token dropped (if 4 or more) and the rest
    shuffled. Its gold documents are all records whose normalised content tokens equal the sequence.
    """
    root = Path(path)
    if not any(root.glob("company_*")) and (root / "data").is_dir():
        root = root / "data"
    companies = sorted(child for child in root.glob("company_*") if child.is_dir())
    if not companies:
        raise input_error(root, None, "no company_* folders found (expected MaintNorm's data/ folder)")
    corpus: list[EvalDoc] = []
    docs_by_tokens: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for company_dir in companies:
        for split in splits:
            norm_path = company_dir / f"{split}.norm"
            if not norm_path.is_file():
                raise input_error(norm_path, None, "file not found")
            for index, record in enumerate(_read_norm_records(norm_path)):
                doc_id = f"{company_dir.name}/{split}/{index:05d}"
                text = " ".join(raw for raw, _ in record)
                metadata = {"company": company_dir.name, "split": split}
                corpus.append(EvalDoc(doc_id=doc_id, title="", text=text, metadata=metadata))
                docs_by_tokens[_content_tokens(record)].append(doc_id)
    rng = random.Random(seed)
    candidates = sorted(tokens for tokens in docs_by_tokens if len(tokens) >= 3)
    queries: list[EvalQuery] = []
    for number, tokens in enumerate(rng.sample(candidates, min(n_queries, len(candidates)))):
        words = list(tokens)
        if len(words) >= 4:
            del words[rng.randrange(len(words))]
        rng.shuffle(words)
        gold = dict.fromkeys(docs_by_tokens[tokens], 1)
        queries.append(EvalQuery(f"maintnorm-q{number:04d}", " ".join(words), None, gold))
    return EvalDataset(
        name="maintnorm",
        corpus=corpus,
        queries=queries,
        source=str(root),
        description=(
            f"Synthetic known-item queries (seed {seed}): a distinct normalised work-order text with masks "
            "removed, one token dropped (4+ tokens) and the rest shuffled; gold = every record with that "
            "exact normalised text. Documents hold the raw (unnormalised) text."
        ),
    )


def _repair_row(row: list[str], width: int) -> list[str]:
    """Re-join a short text split by an unquoted comma (e.g. ``won,t swing``) and pad the row.

    Such a row has its order type (``PM..``) one or more columns to the right of where it belongs.
    """
    pm_column = 3
    if len(row) > pm_column and not _PM_TYPE.fullmatch(row[pm_column]):
        for shift in range(pm_column + 1, len(row)):
            if _PM_TYPE.fullmatch(row[shift]):
                row = [*row[:2], ",".join(row[2:shift]), *row[shift:]]
                break
    return (row + [""] * width)[:width]


def _nist_path(path: Path) -> Path:
    return path / "excavators-cleaned.csv" if path.is_dir() else path


def load_nist_excavators(path: str | Path, n_queries: int = 200, seed: int = 0, max_gold: int = 50) -> EvalDataset:
    """Load NIST excavator work orders (``excavators-cleaned.csv``): one document per row.

    Metadata: ``asset``, ``date``, ``pmtype``, ``cost``; the text is the original short text only (the
    labels stay out, so a query cannot match them verbatim). Known-item queries are synthetic: rows are
    grouped by their (MajorSystem, Part, FM) labels; groups with at least two labels present and at most
    ``max_gold`` rows are eligible, ``n_queries`` are drawn with ``seed``; the query is the present labels
    joined (underscores as spaces), e.g. "Hydraulic System Hose Leak"; gold = every row of the group.
    """
    csv_path = _nist_path(Path(path))
    if not csv_path.is_file():
        raise input_error(csv_path, None, "file not found")
    corpus: list[EvalDoc] = []
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise input_error(csv_path, 1, "empty file; expected a header line")
        missing = [name for name in _NIST_COLUMNS if name not in header]
        if missing:
            raise input_error(csv_path, 1, f"header lacks columns {missing}")
        column = {name: header.index(name) for name in _NIST_COLUMNS}
        for index, raw_row in enumerate(reader):
            row = _repair_row(raw_row, len(header))
            text = row[column["OriginalShorttext"]].strip()
            asset = row[column["Asset"]].strip()
            if not text or not asset:
                raise input_error(csv_path, reader.line_num, "row lacks Asset or OriginalShorttext")
            doc_id = f"{asset}-{index:05d}"
            metadata = {
                "asset": asset,
                "date": row[column["BscStartDate"]],
                "pmtype": row[column["PMType"]],
                "cost": row[column["Cost"]],
            }
            corpus.append(EvalDoc(doc_id=doc_id, title="", text=text, metadata=metadata))
            labels = tuple(row[column[name]].strip() for name in _NIST_LABELS)
            groups[tuple("" if label in ("", "NA") else label for label in labels)].append(doc_id)
    rng = random.Random(seed)
    eligible = sorted(key for key, docs in groups.items() if sum(map(bool, key)) >= 2 and len(docs) <= max_gold)
    queries: list[EvalQuery] = []
    for number, key in enumerate(rng.sample(eligible, min(n_queries, len(eligible)))):
        text = " ".join(label.replace("_", " ") for label in key if label)
        queries.append(EvalQuery(f"nist-q{number:04d}", text, None, dict.fromkeys(groups[key], 1)))
    return EvalDataset(
        name="nist_excavators",
        corpus=corpus,
        queries=queries,
        source=str(csv_path),
        description=(
            f"Synthetic known-item queries (seed {seed}) built from the cleaned (MajorSystem, Part, FM) "
            f"labels of groups with 2+ labels and <= {max_gold} rows; gold = every row with the same labels. "
            "Documents hold only the original short text."
        ),
    )
