"""The closing note of a chat answer names every site that did not answer, with its reason, and says
"no site replied" when none did (it once said "this answer comes from the other sites" with none)."""

from __future__ import annotations

import pytest

from api.gateway.routes_chat import missing_sites_note
from rag_fed.router import FederatedResult, SiteOutcome

pytestmark = pytest.mark.unit


def _result(*sites: SiteOutcome) -> FederatedResult:
    return FederatedResult(request_id="r", question="q", mode="hybrid", k=5, sites=list(sites))


TIMED_OUT = SiteOutcome(site_id="north", status="timed_out", error="no reply within the 20.0 s deadline")
FAILED = SiteOutcome(site_id="south", status="failed", error="site south at http://x: unreachable: refused")
OPEN = SiteOutcome(site_id="east", status="skipped", error="circuit open after 3 consecutive failures")
NOT_SELECTED = SiteOutcome(site_id="west", status="skipped", error="not selected: sketch score 0.100")
ANSWERED = SiteOutcome(site_id="central", status="answered")


def test_no_site_replied_is_said_as_such_with_each_reason() -> None:
    note = missing_sites_note(_result(TIMED_OUT, FAILED, OPEN))
    assert "No site replied" in note and "other sites" not in note
    assert "north (timed out: no reply within the 20.0 s deadline)" in note
    assert "south (failed: site south at http://x: unreachable: refused)" in note
    assert "east (not asked: circuit open after 3 consecutive failures)" in note


def test_some_sites_missing_names_those_that_answered() -> None:
    note = missing_sites_note(_result(ANSWERED, TIMED_OUT, NOT_SELECTED))
    assert "No reply from north (timed out" in note and "comes from central only" in note
    assert "west" not in note, "a site the sketch did not select was not expected to answer"


def test_all_answered_adds_nothing() -> None:
    assert missing_sites_note(_result(ANSWERED, NOT_SELECTED)) == ""
