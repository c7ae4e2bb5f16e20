"""Reading a search or CMMS log into judgements: formats, column names, pages, verdicts, bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_fed.errors import InputError
from rag_fed.feedback import FeedbackLog
from rag_fed.feedback.importer import import_feedback_log, read_feedback_log

pytestmark = pytest.mark.unit


def _read(data: bytes, name: str = "log.csv") -> list[tuple[str, str, str, bool]]:
    imported = read_feedback_log(name, data, embedder_version="v1")
    assert imported.source == f"import:{name}"
    return [(j.question, j.doc_id, j.anchor, j.useful) for j in imported.judgements]


def test_csv_with_other_column_names_pages_and_verdicts() -> None:
    data = (
        b"\xef\xbb\xbfQuery,Accepted_Document,Page,Accepted\n"
        b"pump noisy,pump.pdf,12,yes\n"
        b"seal leaks,pump.pdf,,0\n"
        b"oil change,comp.md,,\n"
    )
    assert _read(data) == [
        ("pump noisy", "pump.pdf", "p12", True),
        ("seal leaks", "pump.pdf", "", False),
        ("oil change", "comp.md", "", True),
    ]


def test_json_lines_and_json_arrays() -> None:
    lines = (
        b'{"question": "q1", "doc_id": "a.md", "section": "Seal", "useful": false}\n\n{"q": "q2", "document": "b"}\n'
    )
    assert _read(lines, "log.jsonl") == [("q1", "a.md", "Seal", False), ("q2", "b", "", True)]
    array = b'[{"question": "q3", "doc_id": "c", "anchor": "p2", "relevant": 1}]'
    assert _read(array, "log.json") == [("q3", "c", "p2", True)]


def test_the_same_row_gets_the_same_request_id_so_a_reimport_records_nothing(tmp_path: Path) -> None:
    data = b"question,doc_id\nq1,a.md\nq2,a.md\n"
    log = FeedbackLog.at_site(tmp_path)
    first = import_feedback_log(log, "x.csv", data, known_documents={"a.md"}, site_id="s", embedder_version="v1")
    second = import_feedback_log(log, "x.csv", data, known_documents={"a.md"}, site_id="s", embedder_version="v1")
    assert (first.recorded, second.recorded, second.already_recorded) == (2, 0, 2)
    other_name = import_feedback_log(log, "y.csv", data, known_documents={"a.md"}, site_id="s", embedder_version="v1")
    assert other_name.recorded == 2, "another file is another source"


def test_rows_naming_unknown_documents_are_counted_not_recorded(tmp_path: Path) -> None:
    data = b"question,doc_id\nq1,a.md\nq2,gone.md\nq3,gone.md\n"
    log = FeedbackLog.at_site(tmp_path)
    outcome = import_feedback_log(log, "x.csv", data, known_documents={"a.md"}, site_id="s", embedder_version="v1")
    assert (outcome.rows, outcome.recorded, outcome.unknown_documents, outcome.unknown_examples) == (
        3,
        1,
        2,
        ("gone.md",),
    )
    with pytest.raises(InputError, match="none of its 3 rows names a document of site s"):
        import_feedback_log(log, "z.csv", data, known_documents={"b.md"}, site_id="s", embedder_version="v1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"question,doc_id\nq1,a.md\n,b.md\n", "row 2 needs a question and a document"),
        (b"question,doc_id,useful\nq1,a.md,maybe\n", "row 1: 'maybe' is not a judgement"),
        (b"question,doc_id,page\nq1,a.md,twelve\n", "row 1: page 'twelve'"),
        (b'{"question": "q1"', "invalid JSON at line 1"),
        (b"[1, 2]", "every JSON row must be an object"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"   \n", "no rows"),
    ],
)
def test_a_bad_file_is_refused_whole_with_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_feedback_log("log.csv", data, embedder_version="v1")
