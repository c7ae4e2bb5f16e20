"""The pages in a real browser (headless Chromium through Playwright) against real gateway and site
processes: an engineer asks and reads a cited, streamed answer; a site admin uploads, searches and
deletes; an operator sees the sites. A screenshot of each page is saved under the test's tmp_path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF

from api.gateway.keystore import Role
from api.web.pages import CONTENT_SECURITY_POLICY
from rag_fed.errors import GatewayBusyError
from rag_fed.samples import load_questions, load_unanswerable
from tests.web.conftest import MARKUP_TEXT, PRIVATE_SITE, Watched, WebFederation, sign_in, why_no_browser

# Checked before any fixture: without a browser the federation is not started either.
NO_BROWSER = why_no_browser()
pytestmark = [pytest.mark.integration, pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")]

WRONG_KEY = "rfk_000000000000_" + "x" * 43
PHONE = {"width": 390, "height": 844}


def _ask(page: Any, question: str) -> Any:
    """Ask and wait for the answer to finish; returns the new turn."""
    before = page.locator("#turns > li").count()
    page.fill("#question", question)
    page.click("#ask")
    turn = page.locator("#turns > li").nth(before)
    turn.locator(".feedback:not([hidden]), .status.error").first.wait_for(timeout=90_000)
    return turn


def _pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "HP-20 hydraulic power pack\n\nFault H-31 means low oil level. Top up with ISO VG 46 oil.")
    pdf.output(str(path))
    return path


def test_a_wrong_key_is_refused_with_a_plain_sentence(web_federation: WebFederation, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{web_federation.gateway.url}/")
    for key in (WRONG_KEY, "not a key at all"):
        sign_in(page, key)
        error = page.locator("#sign-in-error")
        error.filter(has_text="was not accepted").wait_for()
        assert error.inner_text().startswith("This API key was not accepted")
        assert "Traceback" not in page.content()
    assert page.locator("#chat").is_hidden()
    operator = page.context.new_page()
    operator.goto(f"{web_federation.gateway.url}/")
    sign_in(operator, web_federation.api_keys[Role.OPERATOR])  # any valid key signs in; asking needs a role
    operator.locator("#chat").wait_for()
    turn = _ask(operator, "What does F-217 mean?")
    assert turn.locator(".status.error").inner_text().startswith("This key's role may not do that.")
    watched.assert_clean()


def test_a_busy_gateway_is_shown_as_busy_with_when_to_retry(web_federation: WebFederation, watched: Watched) -> None:
    """The page's reading of the gateway's 429 (its fair share per caller): the refusal is the gateway's own
    error, with its body, built from the real error type, answered for the page's request."""
    page = watched.page
    message = str(
        GatewayBusyError(
            "this API key already has 2 answers in progress, the most one caller may have; "
            "retry after 3 s, when one has finished",
            3,
        )
    )
    body = {"error": {"type": "GatewayBusyError", "message": message}}
    page.route(
        "**/v1/chat/completions", lambda route: route.fulfill(status=429, headers={"Retry-After": "3"}, json=body)
    )
    page.goto(f"{web_federation.gateway.url}/")
    sign_in(page, web_federation.api_keys[Role.ENGINEER])
    page.locator("#chat").wait_for()
    turn = _ask(page, "What does F-217 mean?")
    status = turn.locator(".status.error").inner_text()
    assert status.startswith("The gateway is busy: this API key already has 2 answers in progress")
    assert "retry after 3 s" in status
    assert page.locator("#chat").is_visible()  # busy is not a sign-out
    watched.assert_clean()


def test_engineer_asks_reads_the_streamed_cited_answer_and_gives_feedback(
    web_federation: WebFederation, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    key = web_federation.api_keys[Role.ENGINEER]
    response = page.goto(f"{web_federation.gateway.url}/")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    sign_in(page, key)
    page.locator("#chat").wait_for()
    assert key not in page.url
    assert page.evaluate("() => sessionStorage.getItem('ragfed.key.engineer')") == key
    assert key not in page.evaluate("() => JSON.stringify(localStorage)")

    questions = {q.id: q.question for q in load_questions()}
    page.evaluate(  # record the answer's length at every change, to see it arrive in pieces
        """() => { window.__lengths = [];
          new MutationObserver(() => { const t = document.querySelector('#turns .answer-text');
            if (t) window.__lengths.push(t.textContent.length); })
          .observe(document.getElementById('turns'), {subtree: true, childList: true, characterData: true}); }"""
    )
    with page.expect_response(lambda r: r.url.endswith("/v1/chat/completions")) as chat:
        turn = _ask(page, questions["q02"])  # F-217: what it means and where it trips
    assert chat.value.headers["content-type"].startswith("text/event-stream")
    lengths = [n for n in page.evaluate("() => window.__lengths") if n > 0]
    assert len(set(lengths)) >= 2, f"the answer did not stream in: {lengths}"
    assert "F-217" in turn.locator(".answer-text").inner_text()
    assert re.search(r"plant-north answered in \d+ ms", turn.locator(".sites").inner_text())
    sources = turn.locator(".cite-list").first.locator("button.cite")
    assert sources.count() >= 1
    sources.filter(has_text="plant-north").first.click()
    passage = turn.locator(".passage")
    passage.locator(".passage-body h4").filter(has_text="Passage").wait_for()
    assert passage.get_attribute("data-egress") == "passages"
    assert "F-217" in passage.locator(".passage-body").inner_text()

    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as feedback:
        turn.locator(".feedback button.thumb").first.click()
    assert feedback.value.status == 202
    turn.locator(".feedback .thanks").filter(has_text="Thanks, recorded.").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as feedback:
        turn.locator(".cite-list li").first.locator("button.thumb").nth(1).click()
    assert feedback.value.status == 202
    # A source's judgement goes with its question to the site that owns the passage.
    assert feedback.value.request.post_data_json["question"] == questions["q02"]
    receipt = feedback.value.json()
    assert receipt["forwarded"] is True, receipt
    turn.locator(".cite-list li").first.locator(".thanks").filter(
        has_text=f"Site {receipt['site_id']} will learn"
    ).wait_for()
    page.screenshot(path=str(tmp_path / "engineer.png"), full_page=True)

    # plant-east lets no passage text out: its citation says so (and shows what its own model answered).
    page.click("#options summary")
    assert page.locator("#site-choices input[type=checkbox]:checked").count() == len(web_federation.sites)
    page.select_option("#strategy", "extractive")
    private = _ask(page, questions["q17"])  # the FL-24 filler's ALM 452
    assert "(evidence only)" in private.locator(".status").inner_text()
    private.locator("button.cite").filter(has_text=PRIVATE_SITE).first.click()
    private.locator(".passage").filter(has_text="keeps its text private").wait_for()
    assert private.locator(".passage").get_attribute("data-egress") == "answer"
    private.screenshot(path=str(tmp_path / "engineer-private.png"))

    # A third turn in the same conversation: a manual whose text holds markup shows it as text.
    markup = _ask(page, "How long do I hold the button to purge valve V-77?")
    assert MARKUP_TEXT in markup.locator(".answer-text").inner_text()
    markup.locator("button.cite").filter(has_text="V-77").first.click()
    markup.locator(".passage .passage-body h4").filter(has_text="Passage").wait_for()
    assert MARKUP_TEXT in markup.locator(".passage").inner_text()
    assert page.locator("#turns script, #turns img").count() == 0
    # A question about equipment no site documents: declined, and the page says which check declined it.
    other = next(q for q in load_unanswerable() if "other-equipment" in q.tags)
    declined = _ask(page, other.question)
    status = declined.locator(".status").inner_text()
    assert status.startswith("The documents of the sites asked do not answer this question: "), status
    assert page.locator("#conversations li").count() == 1
    page.click("#new-chat")
    assert page.locator("#turns > li").count() == 0
    page.set_viewport_size(PHONE)
    page.locator("#conversations button").first.click()
    page.locator("#turns > li").nth(2).wait_for()
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "engineer-phone.png"))
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert not [url for url in watched.urls if key in url or not url.startswith(web_federation.gateway.url)]
    watched.assert_clean()


def test_site_admin_uploads_searches_and_deletes(
    web_federation: WebFederation, watched: Watched, tmp_path: Path
) -> None:
    page = watched.page
    site_url = web_federation.sites["plant-south"].url
    response = page.goto(f"{site_url}/admin")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.locator("#model-version").wait_for()
    assert page.locator("#model-version").inner_text().strip()
    assert page.locator("#egress").count() == 0, "the egress policy is for the site's admins only"
    sign_in(page, web_federation.admin_keys["plant-north"])  # another site's key
    page.locator("#sign-in-error").filter(has_text="was not accepted").wait_for()
    sign_in(page, web_federation.admin_keys["plant-south"])
    page.locator("#egress").wait_for()
    assert page.locator("#egress").inner_text() == "passages"
    page.locator("#workspace").wait_for()
    page.locator("#documents tbody tr").first.wait_for()

    corrupt = tmp_path / "broken-manual.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n this is not a PDF body \x00\xff\x00")
    markup = tmp_path / "hp20-notes.txt"
    markup.write_text(f"HP-20 field notes\n\nReset relay K-9 on the HP-20 panel: the label reads {MARKUP_TEXT}.\n")
    page.set_input_files("#files", [str(_pdf(tmp_path / "hp20-power-pack.pdf")), str(corrupt), str(markup)])
    page.click("#upload")
    rows = page.locator("#uploads li")
    page.locator("#uploads li[data-outcome]").nth(2).wait_for(timeout=60_000)
    outcomes = {rows.nth(i).get_attribute("data-file"): rows.nth(i) for i in range(rows.count())}
    assert outcomes["hp20-power-pack.pdf"].get_attribute("data-outcome") == "ok"
    assert re.search(r"added: 1 document\(s\), \d+ chunk", outcomes["hp20-power-pack.pdf"].inner_text())
    assert outcomes["broken-manual.pdf"].get_attribute("data-outcome") == "failed"
    reason = outcomes["broken-manual.pdf"].locator(".result").inner_text()
    assert reason.startswith("failed: ") and len(reason) > len("failed: ") + 10 and "Traceback" not in reason
    page.locator("#documents tbody tr[data-doc='hp20-power-pack.pdf']").wait_for()

    page.fill("#search-query", "relay K-9 HP-20 panel label")
    page.select_option("#search-mode", "keyword")
    page.click("#search-form button[type=submit]")
    page.locator("#results li").first.wait_for()
    assert MARKUP_TEXT in page.locator("#results").inner_text()
    assert page.locator("#results script").count() == 0
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)

    row = page.locator("#documents tbody tr[data-doc='hp20-power-pack.pdf']")
    row.locator("button.danger").click()
    dialog = page.locator("#confirm-delete")
    dialog.filter(has_text="hp20-power-pack.pdf").wait_for()
    page.click("#confirm-cancel")
    assert row.count() == 1
    row.locator("button.danger").click()
    page.click("#confirm-ok")
    page.locator("#documents-note").filter(has_text="Deleted hp20-power-pack.pdf").wait_for()
    assert row.count() == 0
    watched.assert_clean()


def test_operator_sees_the_sites_and_the_audit(web_federation: WebFederation, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    page.goto(f"{web_federation.gateway.url}/ops")
    sign_in(page, web_federation.api_keys[Role.OPERATOR])
    page.locator("#board").wait_for()
    page.locator("#audit tbody tr").first.wait_for()
    rows = page.locator("#sites tbody tr")
    assert sorted(rows.nth(i).get_attribute("data-site") for i in range(rows.count())) == sorted(web_federation.sites)
    assert page.locator("#sites tbody").inner_text().count("healthy") == len(web_federation.sites)
    assert "/v1/sites" in page.locator("#audit tbody").inner_text()
    page.screenshot(path=str(tmp_path / "ops.png"), full_page=True)
    watched.assert_clean()
