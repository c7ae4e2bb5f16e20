"""Check rag_fed/samples/federation/questions.jsonl against the files it cites.

For every gold passage: the site folder and file exist, the section exists in that file, and the
``contains`` text occurs inside that section (whitespace runs compared as one space). Sections are:

- Markdown: the text of a ``#``..``######`` heading; the section runs to the next heading.
- HTML: the text of an ``h1``..``h6`` element; the section runs to the next heading element.
- Plain text: a heading line underlined by a line of dashes (``-----``).
- PDF: the 1-based page number, as a string.
- Work-order logs: the record. ``row N`` (1-based data row, header not counted) for a CSV without an id
  column; otherwise the value of ``wo_id``. ``contains`` must occur in one field of that record.

Every question also lists 1 to 4 ``expected`` strings that a correct answer must contain: each must occur
in the text of at least one of the question's gold passages (same whitespace rule as ``contains``; in a
log, in one field of the record).

``unanswerable.jsonl`` holds questions the documents do not answer: ``id``, ``question``, ``tags`` (one of
``other-equipment`` / ``near-miss``) and ``why``, with no gold. Ids must be unique across both files.

Also checks the question schema, that sites.json lists exactly the files present, and that the whole
rag_fed/samples tree stays under 1.5 MB.

    .venv/bin/python scripts/check_sample_questions.py     # exit 1 on any problem

Needs pypdf (a runtime dependency of rag-fed) for the PDF pages.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "rag_fed" / "samples"
FEDERATION = SAMPLES / "federation"
QUESTIONS = FEDERATION / "questions.jsonl"
UNANSWERABLE = FEDERATION / "unanswerable.jsonl"
MAX_TREE_BYTES = 1_500_000
SITES = ("plant-north", "plant-south", "plant-east")
TAGS = {"single-site", "multi-site", "manual", "work-orders", "fault-code", "part-number", "safety"}
UNANSWERABLE_TAGS = {"other-equipment", "near-miss"}
UNANSWERABLE_FIELDS = {"id", "question", "tags", "why"}
MAX_EXPECTED = 4


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def markdown_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            current = sections.setdefault(norm(match.group(1)), [])
        elif current is not None:
            current.append(line)
    return {heading: "\n".join(lines) for heading, lines in sections.items()}


class _HtmlSections(HTMLParser):
    HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    SKIP = frozenset({"script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self._heading: list[str] | None = None
        self._current: list[str] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.HEADINGS:
            self._heading = []
        elif tag in {"td", "th", "li", "p", "tr", "br"}:
            self._append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip -= 1
        elif tag in self.HEADINGS and self._heading is not None:
            self._current = self.sections.setdefault(norm("".join(self._heading)), [])
            self._heading = None
        elif tag in {"td", "th", "li", "p"}:
            self._append(" ")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._heading is not None:
            self._heading.append(data)
        else:
            self._append(data)

    def _append(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)


def html_sections(text: str) -> dict[str, str]:
    parser = _HtmlSections()
    parser.feed(text)
    parser.close()
    return {heading: "".join(parts) for heading, parts in parser.sections.items()}


def text_sections(text: str) -> dict[str, str]:
    lines = text.splitlines()
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for index, line in enumerate(lines):
        underline = lines[index + 1] if index + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"-{3,}", underline.strip()) and not re.fullmatch(r"-+", line.strip()):
            current = sections.setdefault(norm(line), [])
        elif current is not None:
            current.append(line)
    return {heading: "\n".join(body) for heading, body in sections.items()}


def pdf_sections(path: Path) -> dict[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return {str(number): page.extract_text() or "" for number, page in enumerate(reader.pages, start=1)}


def log_records(path: Path) -> dict[str, list[str]]:
    """Record key -> field values."""
    text = path.read_text(encoding="utf-8")
    records: dict[str, list[str]] = {}
    if path.suffix == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                obj = json.loads(line)
                records[str(obj["wo_id"])] = [str(value) for value in obj.values()]
        return records
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for number, row in enumerate(reader, start=1):
        key = row.get("wo_id") or f"row {number}"
        records[key] = [value or "" for value in row.values()]
    return records


def sections_of(path: Path) -> dict[str, str] | dict[str, list[str]]:
    suffix = path.suffix.lower()
    if suffix == ".md":
        return markdown_sections(path.read_text(encoding="utf-8"))
    if suffix in {".html", ".htm"}:
        return html_sections(path.read_text(encoding="utf-8"))
    if suffix == ".txt":
        return text_sections(path.read_text(encoding="utf-8"))
    if suffix == ".pdf":
        return pdf_sections(path)
    if suffix in {".csv", ".jsonl"}:
        return log_records(path)
    raise ValueError(f"no section rule for {path.name}")


def check_manifest() -> list[str]:
    """sites.json names exactly the manuals and logs present (LICENSE/SOURCE files aside)."""
    problems: list[str] = []
    manifest = json.loads((FEDERATION / "sites.json").read_text(encoding="utf-8"))
    if tuple(site["id"] for site in manifest["sites"]) != SITES:
        problems.append(f"sites.json: expected sites {SITES}")
    for site in manifest["sites"]:
        root = FEDERATION / site["id"]
        listed = {*site["manuals"], site["work_orders"]["file"]}
        present = {
            str(path.relative_to(root))
            for path in root.rglob("*")
            if path.is_file() and not path.name.startswith(("LICENSE", "SOURCE"))
        }
        for name in sorted(listed - present):
            problems.append(f"sites.json: {site['id']}/{name} listed but missing")
        for name in sorted(present - listed):
            problems.append(f"sites.json: {site['id']}/{name} present but not listed")
        for key in ("source", "license"):
            if not (root / site["work_orders"][key]).is_file():
                problems.append(f"sites.json: {site['id']} {key} file missing")
    return problems


def check() -> list[str]:
    problems: list[str] = []
    cache: dict[Path, dict[str, str] | dict[str, list[str]]] = {}
    ids: Counter[str] = Counter()
    tag_counts: Counter[str] = Counter()
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"questions.jsonl:{line_no}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        qid = item.get("id", "?")
        ids[qid] += 1
        for name in ("id", "question", "answer"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                problems.append(f"{where} ({qid}): missing or empty {name!r}")
        tags = item.get("tags", [])
        tag_counts.update(tags)
        if unknown := set(tags) - TAGS:
            problems.append(f"{where} ({qid}): unknown tags {sorted(unknown)}")
        gold = item.get("gold")
        if not isinstance(gold, list) or not gold:
            problems.append(f"{where} ({qid}): 'gold' must be a non-empty list")
            continue
        gold_texts: list[str] = []
        gold_sites = {entry.get("site") for entry in gold}
        if ("multi-site" in tags) != (len(gold_sites) > 1):
            problems.append(f"{where} ({qid}): 'multi-site' tag does not match gold sites {sorted(gold_sites)}")
        for entry in gold:
            site, file, section, contains = (entry.get(k) for k in ("site", "file", "section", "contains"))
            label = f"{qid} -> {site}/{file}#{section}"
            if site not in SITES:
                problems.append(f"{label}: unknown site")
                continue
            if not all(isinstance(v, str) and v for v in (file, section, contains)):
                problems.append(f"{label}: file, section and contains must be non-empty strings")
                continue
            path = FEDERATION / site / file
            if not path.is_file():
                problems.append(f"{label}: file not found")
                continue
            if path not in cache:
                cache[path] = sections_of(path)
            sections = cache[path]
            if section not in sections:
                problems.append(f"{label}: no such section (have: {', '.join(list(sections)[:12])} ...)")
                continue
            body = sections[section]
            if isinstance(body, list):
                found = any(contains in value for value in body)
                gold_texts.extend(body)
            else:
                found = norm(contains) in norm(body)
                gold_texts.append(body)
            if not found:
                problems.append(f"{label}: {contains!r} not found in that section")
        problems.extend(check_expected(f"{where} ({qid})", item.get("expected"), gold_texts))
    answerable = sum(ids.values())
    unanswerable = check_unanswerable(ids, problems)
    for qid, count in ids.items():
        if count > 1:
            problems.append(f"duplicate question id {qid} (ids must be unique across both files)")
    problems.extend(check_manifest())
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if total > MAX_TREE_BYTES:
        problems.append(f"rag_fed/samples is {total:,} bytes, over {MAX_TREE_BYTES:,}")
    print(f"{answerable} questions; tags: {dict(sorted(tag_counts.items()))}")
    print(f"{sum(ids.values()) - answerable} unanswerable; tags: {dict(sorted(unanswerable.items()))}")
    print(f"samples tree {total:,} bytes")
    return problems


def check_expected(where: str, expected: object, gold_texts: list[str]) -> list[str]:
    """``expected`` is 1..4 non-empty strings, each found in the text of one of the gold passages.

    ``gold_texts`` holds the passages that were found (a manual section, or every field of a log
    record); a question whose gold passage is missing already has a problem of its own.
    """
    if not isinstance(expected, list) or not 1 <= len(expected) <= MAX_EXPECTED:
        return [f"{where}: 'expected' must be a list of 1 to {MAX_EXPECTED} strings"]
    problems: list[str] = []
    texts = [norm(text) for text in gold_texts]
    for value in expected:
        if not isinstance(value, str) or not norm(value):
            problems.append(f"{where}: expected values must be non-empty strings, got {value!r}")
        elif texts and not any(norm(value) in text for text in texts):
            problems.append(f"{where}: expected {value!r} is in none of the gold passages")
    if len({norm(v) for v in expected if isinstance(v, str)}) != len(expected):
        problems.append(f"{where}: duplicate expected values")
    return problems


def check_unanswerable(ids: Counter[str], problems: list[str]) -> Counter[str]:
    """Check unanswerable.jsonl's schema; count its ids into ``ids`` and return its tag counts."""
    tag_counts: Counter[str] = Counter()
    if not UNANSWERABLE.is_file():
        problems.append(f"{UNANSWERABLE.name} is missing")
        return tag_counts
    lines = UNANSWERABLE.read_text(encoding="utf-8").splitlines()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{UNANSWERABLE.name}:{line_no}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        if not isinstance(item, dict):
            problems.append(f"{where}: not a JSON object")
            continue
        qid = item.get("id", "?")
        ids[str(qid)] += 1
        if odd := set(item) ^ UNANSWERABLE_FIELDS:
            problems.append(f"{where} ({qid}): extra or missing fields {sorted(odd)}")
        for name in ("id", "question", "why"):
            if not isinstance(item.get(name), str) or not item[name].strip():
                problems.append(f"{where} ({qid}): missing or empty {name!r}")
        if isinstance(qid, str) and not re.fullmatch(r"u\d{2,}", qid):
            problems.append(f"{where} ({qid}): id must look like u01")
        tags = item.get("tags")
        if not isinstance(tags, list) or len(tags) != 1 or tags[0] not in UNANSWERABLE_TAGS:
            problems.append(f"{where} ({qid}): 'tags' must be one of {sorted(UNANSWERABLE_TAGS)}")
        else:
            tag_counts.update(tags)
    return tag_counts


def main() -> int:
    problems = check()
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print("all gold passages and expected strings found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
