"""The site's feedback log: record once per request, list newest first, count, delete, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_fed.errors import InputError, NotFoundError, RagFedError
from rag_fed.feedback import FEEDBACK_FILE, FeedbackLog, NewJudgement

pytestmark = pytest.mark.unit


def _judgement(request_id: str, question: str = "seal leaks", useful: bool = True, **fields: object) -> NewJudgement:
    values: dict[str, object] = {
        "request_id": request_id,
        "question": question,
        "doc_id": "pump.md",
        "anchor": "Seal",
        "useful": useful,
        "embedder_version": "v1",
    }
    values.update(fields)
    return NewJudgement(**values)  # type: ignore[arg-type]


def test_a_judgement_is_recorded_once_per_request_id(tmp_path: Path) -> None:
    log = FeedbackLog.at_site(tmp_path)
    first, created = log.record(_judgement("r1", question="  seal\n leaks  "))
    again, created_again = log.record(_judgement("r1", question="something else", useful=False))
    assert created and not created_again
    assert again == first and first.question == "seal leaks" and first.useful
    assert [row.request_id for row in log.all()] == ["r1"]
    assert (tmp_path / FEEDBACK_FILE).stat().st_mode & 0o777 == 0o600


def test_list_is_newest_first_and_filters_by_source(tmp_path: Path) -> None:
    log = FeedbackLog.at_site(tmp_path)
    log.record(_judgement("a"))
    log.record(_judgement("b", source="import:cmms.csv"))
    log.record(_judgement("c", useful=False))
    assert [row.request_id for row in log.list()] == ["c", "b", "a"]
    assert [row.request_id for row in log.list(limit=1, offset=1)] == ["b"]
    assert [row.request_id for row in log.list(source="import:cmms.csv")] == ["b"]
    assert [row.request_id for row in log.all()] == ["a", "b", "c"]


def test_stats_count_judgements_questions_sources_and_versions(tmp_path: Path) -> None:
    log = FeedbackLog.at_site(tmp_path)
    log.record(_judgement("a", question="q1"))
    log.record(_judgement("b", question="q1", useful=False, doc_id="other.md"))
    log.record(_judgement("c", question="q2", source="import:x.csv", embedder_version="v2"))
    stats = log.stats()
    assert (stats.judgements, stats.useful, stats.not_useful, stats.questions, stats.documents) == (3, 2, 1, 2, 2)
    assert stats.by_source == {"chat": 2, "import:x.csv": 1}
    assert stats.by_embedder_version == {"v1": 2, "v2": 1}


def test_delete_one_and_a_whole_source(tmp_path: Path) -> None:
    log = FeedbackLog.at_site(tmp_path)
    kept, _ = log.record(_judgement("a"))
    gone, _ = log.record(_judgement("b"))
    log.record_many([_judgement(f"i{n}", source="import:x.csv") for n in range(3)])
    assert log.delete(gone.feedback_id) and not log.delete(gone.feedback_id)
    assert log.delete_source("import:x.csv") == 3 and log.delete_source("import:x.csv") == 0
    assert [row.feedback_id for row in log.all()] == [kept.feedback_id]


def test_record_many_stores_all_or_none(tmp_path: Path) -> None:
    log = FeedbackLog.at_site(tmp_path)
    with pytest.raises(InputError, match="question"):
        log.record_many([_judgement("ok"), _judgement("bad", question="   ")])
    assert list(log.all()) == []
    assert log.record_many([_judgement("x"), _judgement("y"), _judgement("x")]) == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"question": ""}, "needs the question"),
        ({"question": "q" * 2001}, "exceeds 2000"),
        ({"doc_id": " "}, "needs the document"),
        ({"comment": "c" * 2001}, "comment of 2001"),
        ({"request_id": ""}, "request id"),
    ],
)
def test_a_judgement_that_cannot_be_stored_names_its_field(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    log = FeedbackLog.at_site(tmp_path)
    overrides = {"request_id": "r", **fields}
    with pytest.raises(InputError, match=message):
        log.record(_judgement(**overrides))  # type: ignore[arg-type]
    assert list(log.all()) == []


def test_a_site_without_a_log_opens_none_and_no_database_appears(tmp_path: Path) -> None:
    assert FeedbackLog.existing_at_site(tmp_path) is None
    assert not (tmp_path / FEEDBACK_FILE).exists()
    with pytest.raises(NotFoundError, match="no feedback log"):
        FeedbackLog(tmp_path / FEEDBACK_FILE, read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_log_reads_and_refuses_writes(tmp_path: Path) -> None:
    FeedbackLog.at_site(tmp_path).record(_judgement("a"))
    log = FeedbackLog.existing_at_site(tmp_path)
    assert log is not None and log.read_only
    assert [row.request_id for row in log.all()] == ["a"] and log.stats().judgements == 1
    with pytest.raises(RagFedError, match="read-only"):
        log.record(_judgement("b"))
    with pytest.raises(RagFedError, match="read-only"):
        log.delete(1)
    assert [row.request_id for row in log.list()] == ["a"]
