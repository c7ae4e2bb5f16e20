"""An engineer's judgement on a citation reaches the site that owns the passage, sealed, and only that site;
the gateway keeps an audit line and nothing of the judgement; a site admin lists, imports and deletes.
Real site services and a real gateway on loopback (the session federation)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from rag_fed.crypto import seal
from rag_fed.feedback import FEEDBACK_FILE, FeedbackLog
from rag_fed.feedback.messages import FEEDBACK_PATH, SiteFeedback
from rag_fed.training.pairs import PairSplit, TrainingPair, save_pairs
from rag_fed.training.site_pairs import PAIRS_FILE
from rag_fed.types import Citation
from tests.api.conftest import Federation

pytestmark = pytest.mark.integration

QUESTION = "How do I replace the mechanical seal on slurry pump SP-40?"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _feedback(fed: Federation, **body: object) -> httpx.Response:
    payload = {"conversation_id": "conv-1", "useful": True, **body}
    return httpx.post(
        f"{fed.gateway.url}/v1/feedback", json=payload, headers=_bearer(fed.api_keys["engineer"]), timeout=60
    )


def _log(fed: Federation, site_id: str) -> FeedbackLog:
    return FeedbackLog.at_site(fed.data_dir / site_id)


def _questions_at(fed: Federation, site_id: str) -> list[str]:
    return [row.question for row in _log(fed, site_id).all()]


def _cited_label(fed: Federation) -> str:
    client = OpenAI(base_url=f"{fed.gateway.url}/v1", api_key=fed.api_keys["engineer"], timeout=180, max_retries=0)
    completion = client.chat.completions.create(
        model="rag-fed", messages=[{"role": "user", "content": QUESTION}], max_tokens=48
    )
    extras = (completion.model_extra or {})["rag_fed"]
    labels = [Citation.model_validate(citation).label for citation in extras["citations"]]
    north = [label for label in labels if label.startswith("[north:north-pump-manual.md")]
    assert north, labels
    return north[0]


def test_a_citation_judgement_lands_at_the_owning_site_only(federation: Federation) -> None:
    label = _cited_label(federation)
    before = {site_id: len(_questions_at(federation, site_id)) for site_id in ("north", "south", "east")}

    response = _feedback(federation, target=label, question=QUESTION, comment="seal kit number was right")

    assert response.status_code == 202, response.text
    assert response.json() == {"recorded": True, "forwarded": True, "site_id": "north", "reason": None}
    rows = list(_log(federation, "north").all())
    assert len(rows) == before["north"] + 1
    row = rows[-1]
    assert (row.question, row.doc_id, row.useful, row.source) == (QUESTION, "north-pump-manual.md", True, "chat")
    assert label.endswith(f"#{row.anchor}]") and row.anchor == "Mechanical seal replacement"
    assert row.comment == "seal kit number was right" and row.embedder_version
    assert {site_id: len(_questions_at(federation, site_id)) for site_id in ("south", "east")} == {
        "south": before["south"],
        "east": before["east"],
    }
    # The gateway's database holds the audit line, never the question, the comment or the passage.
    gateway_db = federation.gateway_home / "gateway.db"
    dump = "\n".join(sqlite3.connect(gateway_db).iterdump())
    assert "mechanical seal" not in dump.casefold() and "seal kit number" not in dump
    audited = [entry for entry in federation.keystore.audit_log(50) if entry.endpoint == "/v1/feedback"]
    assert audited and audited[0].sites == ["north"] and audited[0].outcome == "ok"


def test_feedback_that_names_another_sites_passage_or_no_site_is_refused(federation: Federation) -> None:
    # The label says north, the document is south's: north refuses it, and nothing is recorded anywhere.
    counts = {site_id: len(_questions_at(federation, site_id)) for site_id in ("north", "south")}
    wrong = _feedback(federation, target="[north:south-conveyor-manual.md#Belt tracking]", question="belt runs off")
    assert wrong.status_code == 404, wrong.text
    assert "no document 'south-conveyor-manual.md'" in wrong.json()["error"]["message"]
    assert {site_id: len(_questions_at(federation, site_id)) for site_id in ("north", "south")} == counts

    unknown = _feedback(federation, target="[west:pump.md#Seal]", question="seal?")
    assert unknown.status_code == 404 and "west" in unknown.json()["error"]["message"]

    without_question = _feedback(federation, target="[south:south-conveyor-manual.md#Belt tracking]")
    assert without_question.status_code == 202
    assert without_question.json()["forwarded"] is False and "no question" in without_question.json()["reason"]
    assert len(_questions_at(federation, "south")) == counts["south"]

    whole_answer = _feedback(federation, target="answer", question=QUESTION)
    assert whole_answer.status_code == 202 and whole_answer.json()["forwarded"] is False


def test_a_sealed_feedback_envelope_is_taken_once_and_only_by_its_recipient(federation: Federation) -> None:
    message = SiteFeedback(
        site_id="east",
        question="cut-out pressure of AC-9",
        doc_id="east-compressor-manual.md",
        anchor="Pressure switch",
        useful=True,
    )
    east = federation.registry.get("east")
    sealed = seal(
        message.to_bytes(),
        sender=federation.gateway_keys,
        sender_id="gateway",
        recipient_id="east",
        recipient_key=east.key,
    ).to_bytes()
    url = f"{federation.sites['east'].url}{FEEDBACK_PATH}"
    first = httpx.post(url, content=sealed, headers={"content-type": "application/json"}, timeout=30)
    assert first.status_code == 200
    replay = httpx.post(url, content=sealed, headers={"content-type": "application/json"}, timeout=30)
    assert replay.status_code == 409, replay.text
    elsewhere = httpx.post(
        f"{federation.sites['south'].url}{FEEDBACK_PATH}",
        content=sealed,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert elsewhere.status_code == 421, elsewhere.text
    assert _questions_at(federation, "east").count("cut-out pressure of AC-9") == 1


def test_a_site_admin_imports_lists_and_deletes_judgements(federation: Federation, tmp_path: Path) -> None:
    site = federation.sites["south"].url
    admin = _bearer(federation.admin_keys["south"])
    log = (
        b"question,doc_id,section,useful\n"
        b"belt runs off to one side,south-conveyor-manual.md,Belt tracking,1\n"
        b"F-217 on the head pulley,south-conveyor-manual.md,Head pulley bearing,yes\n"
        b"F-217 on the head pulley,retired-manual.md,,1\n"
    )
    imported = httpx.post(
        f"{site}/v1/admin/feedback/import", headers=admin, files={"file": ("cmms.csv", log)}, timeout=60
    )
    assert imported.status_code == 201, imported.text
    assert imported.json() | {"unknown_examples": None} == {
        "source": "import:cmms.csv",
        "rows": 3,
        "recorded": 2,
        "already_recorded": 0,
        "unknown_documents": 1,
        "unknown_examples": None,
    }
    assert imported.json()["unknown_examples"] == ["retired-manual.md"]
    again = httpx.post(f"{site}/v1/admin/feedback/import", headers=admin, files={"file": ("cmms.csv", log)}, timeout=60)
    assert again.json()["recorded"] == 0 and again.json()["already_recorded"] == 2

    broken = httpx.post(
        f"{site}/v1/admin/feedback/import",
        headers=admin,
        files={"file": ("bad.csv", b"question,doc_id\n,south-orders.csv\n")},
        timeout=60,
    )
    assert broken.status_code == 400 and "row 1" in broken.json()["error"]["message"]

    listed = httpx.get(f"{site}/v1/admin/feedback", headers=admin, params={"source": "import:cmms.csv"}, timeout=30)
    assert [row["anchor"] for row in listed.json()] == ["Head pulley bearing", "Belt tracking"]
    stats = httpx.get(f"{site}/v1/admin/feedback/stats", headers=admin, timeout=30).json()
    assert stats["by_source"]["import:cmms.csv"] == 2
    assert httpx.get(f"{site}/v1/admin/feedback", timeout=30).status_code == 401

    mined = federation.data_dir / "south" / PAIRS_FILE
    save_pairs(mined, PairSplit(train=(TrainingPair("belt runs off to one side", "Belt tracking"),), val=()))
    first = listed.json()[0]["feedback_id"]
    deleted = httpx.delete(f"{site}/v1/admin/feedback/{first}", headers=admin, timeout=30)
    assert deleted.json() == {"deleted": 1, "pairs_discarded": True}, deleted.text
    assert not mined.exists()  # pairs mined before the delete can no longer train
    assert httpx.delete(f"{site}/v1/admin/feedback/{first}", headers=admin, timeout=30).status_code == 404
    gone = httpx.delete(f"{site}/v1/admin/feedback", headers=admin, params={"source": "import:cmms.csv"}, timeout=30)
    assert gone.json() == {"deleted": 1, "pairs_discarded": False}
    audit = httpx.get(f"{site}/v1/admin/audit", headers=admin, timeout=30).json()
    assert any("feedback import cmms.csv: 2 recorded" in (entry.get("detail") or "") for entry in audit)
    assert (federation.data_dir / "south" / FEEDBACK_FILE).stat().st_mode & 0o777 == 0o600
