"""The site takes a forwarded judgement only for its own documents, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_fed.feedback import FeedbackLog
from rag_fed.feedback.messages import SiteFeedback
from rag_fed.feedback.receiver import FeedbackReceiver

pytestmark = pytest.mark.unit


def _receiver(tmp_path: Path) -> FeedbackReceiver:
    return FeedbackReceiver(
        "north",
        FeedbackLog.at_site(tmp_path),
        has_document=lambda doc_id: doc_id == "pump.md",
        serving_version=lambda: "v7",
    )


def _message(**fields: object) -> SiteFeedback:
    values: dict[str, object] = {
        "site_id": "north",
        "question": "seal leaks",
        "doc_id": "pump.md",
        "anchor": "Seal",
        "useful": True,
        "request_id": "req1",
    }
    values.update(fields)
    return SiteFeedback(**values)  # type: ignore[arg-type]


def test_a_judgement_on_its_own_document_is_recorded_with_the_serving_version(tmp_path: Path) -> None:
    receiver = _receiver(tmp_path)
    ack = receiver.receive(_message())
    assert (ack.status, ack.site_id, ack.request_id) == ("recorded", "north", "req1") and ack.feedback_id
    assert receiver.receive(_message()).status == "duplicate"
    [row] = list(receiver.log.all())
    assert (row.doc_id, row.anchor, row.embedder_version, row.source) == ("pump.md", "Seal", "v7", "chat")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"site_id": "south"}, "site 'south''s, not this site's"),
        ({"doc_id": "conveyor.md"}, "no document 'conveyor.md'"),
    ],
)
def test_another_sites_passage_is_refused_and_nothing_is_kept(
    tmp_path: Path, fields: dict[str, object], reason: str
) -> None:
    receiver = _receiver(tmp_path)
    ack = receiver.receive(_message(**fields))
    assert ack.status == "refused" and ack.reason is not None and reason in ack.reason and ack.feedback_id is None
    assert list(receiver.log.all()) == []
