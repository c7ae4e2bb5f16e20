"""Egress policies and redaction at a site: what leaves, cut and scrubbed."""

from __future__ import annotations

import unicodedata

import pytest

from rag_fed.site.egress import (
    REDACTED,
    SNIPPET_CHARS,
    RedactionSettings,
    Redactor,
    apply_egress,
    release_evidence,
)
from rag_fed.types import Citation, Evidence, Passage
from tests.rag_fed.site.leak_corpus import LEAKS, NAMES, Leak

pytestmark = pytest.mark.unit

LONG = (
    "Call Anna Berg (anna.berg@plant-north.example) before replacing the seal on pump S/N 4471-AX. "
    + "Isolate the pump and lock out the breaker. " * 20
)
PASSAGE = Passage(
    citation=Citation(
        site_id="north", doc_id="logs/anna.berg@plant-north.example", title="Log by Anna Berg", section=""
    ),
    chunk_id=1,
    text=LONG,
    score=0.9,
    rank=1,
)
ANSWER = "Ask anna berg; the serial number: 99-1234-X pump needs kit MS-4471 [north:manual#seal]."


def _redactor(**overrides: object) -> Redactor:
    return Redactor(RedactionSettings.model_validate({"names": ["Anna Berg", "Anna"], **overrides}))


@pytest.mark.parametrize("policy", ["answer", "snippets", "passages"])
def test_policies_cut_passage_text_and_keep_citations(policy: str) -> None:
    answer, passages = apply_egress(
        ANSWER, [PASSAGE], policy, Redactor(RedactionSettings(emails=False, serial_numbers=False))
    )  # type: ignore[arg-type]
    assert answer == ANSWER
    assert len(passages) == 1 and passages[0].score == 0.9 and passages[0].rank == 1
    expected = {"answer": "", "snippets": LONG[:SNIPPET_CHARS], "passages": LONG}[policy]
    assert passages[0].text == expected


def test_redaction_scrubs_emails_serials_and_names_everywhere_that_leaves() -> None:
    answer, passages = apply_egress(ANSWER, [PASSAGE], "passages", _redactor())
    assert answer == f"Ask {REDACTED}; the {REDACTED} pump needs kit MS-4471 [north:manual#seal]."
    text = passages[0].text
    assert "anna" not in text.lower() and "4471-AX" not in text and "@" not in text
    assert text.startswith(f"Call {REDACTED} ({REDACTED}) before replacing the seal on pump {REDACTED}.")
    citation = passages[0].citation
    assert citation.title == f"Log by {REDACTED}" and "@" not in citation.doc_id
    assert PASSAGE.text == LONG, "the site's own passage is not modified"


def test_a_snippet_is_cut_after_redaction_so_no_half_match_leaves() -> None:
    """The cut came first and left "maintenanc" (issue 19: "...@kes"): half an address is still a leak."""
    email = "maintenance.lead@plant.example"
    text = "x" * (SNIPPET_CHARS - 10) + " " + email + " then torque to 35 Nm."
    _, passages = apply_egress(None, [PASSAGE.model_copy(update={"text": text})], "snippets", _redactor())
    assert passages[0].text == ("x" * (SNIPPET_CHARS - 10) + " " + REDACTED)[:SNIPPET_CHARS]
    assert "maint" not in passages[0].text and "@" not in passages[0].text


def test_names_are_whole_words_any_case_and_patterns_are_validated() -> None:
    redact = _redactor(patterns=[r"WO-\d+"])
    assert redact("ANNA signed WO-123; Annabel did not") == f"{REDACTED} signed {REDACTED}; Annabel did not"
    assert redact("serial interface, snub pulley") == "serial interface, snub pulley"
    with pytest.raises(ValueError, match="not a valid regular expression"):
        RedactionSettings(patterns=["(unclosed"])


@pytest.mark.parametrize(
    "settings",
    [
        RedactionSettings(names=["Anna Berg"], patterns=[r"(?i)asset\s+tag\s+\d+"]),
        RedactionSettings(names=["Anna Berg"], patterns=[r"(?i)asset\s+tag\s+\d+", r"(\d)\1{3}"]),  # no union
    ],
)
def test_every_pattern_still_redacts_when_scanned_together(settings: RedactionSettings) -> None:
    redact = Redactor(settings)
    text = "Asset TAG 77 checked by anna berg (anna@plant.example), S/N 4471-AX."
    expected = f"{REDACTED} checked by {REDACTED} ({REDACTED}), {REDACTED}."
    assert redact(text) == expected
    assert redact(text) == expected  # the second time from the cache of short texts
    assert redact("nothing to hide here") == "nothing to hide here"
    long = "pump " * 100 + text
    assert redact(long) == "pump " * 100 + expected
    if len(settings.patterns) == 2:
        assert redact("code 5555 and 1234") == f"code {REDACTED} and 1234"


@pytest.mark.parametrize(
    "text",
    [
        "SERIAL NUMBER: 99-1234-X was fitted",
        "fitted unit S/N 4471-AX today",
        "Sn# AB12345 replaced",
        "mail J.Doe+pumps@Plant-North.example.COM now",
    ],
)
def test_emails_and_serials_are_found_in_any_case(text: str) -> None:
    redacted = _redactor()(text)
    assert REDACTED in redacted
    assert not any(part in redacted for part in ("1234", "4471", "12345", "@"))


EVIDENCE = Evidence(
    citation=PASSAGE.citation,
    text="Call Anna Berg before replacing the seal on pump S/N 4471-AX.",
    score=0.8,
    similarity=0.7,
    coverage=0.9,
    passage_rank=1,
    chunk_id=1,
)


@pytest.mark.parametrize(("policy", "leaves"), [("answer", False), ("snippets", True), ("passages", True)])
def test_evidence_leaves_as_the_policy_allows_with_its_scores_and_redacted(policy: str, leaves: bool) -> None:
    (released,) = release_evidence([EVIDENCE], policy, _redactor())  # type: ignore[arg-type]
    assert (released.score, released.similarity, released.coverage) == (0.8, 0.7, 0.9)
    if leaves:
        assert released.text == f"Call {REDACTED} before replacing the seal on pump {REDACTED}."
    else:
        assert released.text == "", "under 'answer' egress no text leaves, evidence included"
    assert released.citation.title == f"Log by {REDACTED}" and "@" not in released.citation.doc_id
    assert EVIDENCE.text.startswith("Call Anna Berg"), "the site's own evidence is not modified"


@pytest.mark.parametrize("policy", ["answer", "snippets", "passages"])
@pytest.mark.parametrize("leak", LEAKS, ids=[leak.what for leak in LEAKS])
def test_every_leak_of_the_corpus_is_stopped_by_every_policy(policy: str, leak: Leak) -> None:
    redactor = Redactor(RedactionSettings(names=NAMES))
    citation = Citation(site_id="north", doc_id="logs/wo-1", title=leak.text, section=f"Notes > {leak.text}")
    passage = Passage(citation=citation, chunk_id=1, text=leak.text + " Torque to 35 Nm.", score=0.5, rank=1)
    evidence = EVIDENCE.model_copy(update={"citation": citation, "text": leak.text})
    answer, passages = apply_egress(f"As noted: {leak.text}", [passage], policy, redactor)  # type: ignore[arg-type]
    released = release_evidence([evidence], policy, redactor)  # type: ignore[arg-type]
    out = [answer or ""] + [
        field
        for item in [*passages, *released]
        for field in (item.text, item.citation.doc_id, item.citation.title, item.citation.section)
    ]
    leaked = unicodedata.normalize("NFKC", " | ".join(out)).casefold()
    for secret in leak.secrets:
        assert secret.casefold() not in leaked, f"{leak.what}: {secret!r} left under {policy}: {out}"


def test_a_keyword_query_for_a_redacted_value_skips_it_and_keeps_the_rest() -> None:
    redactor = Redactor(RedactionSettings(names=NAMES))
    stripped = redactor.without_redacted("which pump has S/N 4471-AX and who is Anna Berg")
    assert "4471" not in stripped and "anna" not in stripped.lower()
    assert stripped.split() == ["which", "pump", "has", "and", "who", "is"]
    assert redactor.without_redacted("gland bolt torque") == "gland bolt torque"


def test_a_citation_with_nothing_to_redact_leaves_as_it_is_and_one_with_something_is_redacted() -> None:
    redactor = Redactor(RedactionSettings(names=["Anna Berg"]))
    clean = Citation(site_id="plant-a", doc_id="manuals/gx400.md", title="GX-400 gearbox", section="Oil")
    assert redactor.citation(clean) is clean
    named = clean.model_copy(update={"section": "Oil change (ask Anna Berg)"})
    released = redactor.citation(named)
    assert released.section == f"Oil change (ask {REDACTED})"
    assert (released.doc_id, released.title) == (clean.doc_id, clean.title)
