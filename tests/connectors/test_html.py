"""HTML loader: visible text only, heading paths from h1–h4, title from <title> or the first h1."""

from __future__ import annotations

import pytest

from connectors import SourceData
from connectors.base import Document
from connectors.errors import CorruptFileError
from connectors.html import HtmlConnector

pytestmark = pytest.mark.unit

PAGE = """<!DOCTYPE html>
<html>
<head><title>Excavator Manual</title><style>body { color: red }</style></head>
<body>
<header><a href="/">Home</a> Site banner</header>
<nav><ul><li>Menu entry</li></ul></nav>
<main>
  <article>
    <header><h1>Hydraulics</h1></header>
    <p>Intro to the <b>hydraulic</b>
       system.</p>
    <h2>Pumps</h2>
    <div>Bleed the pump.<p>Then restart it.</p>Finally check for leaks.</div>
    <h3>Gear pump</h3>
    <ul><li>Check the seals</li><li><p>Check the shaft</p><p>for play</p></li></ul>
    <h2>Specifications</h2>
    <table><tr><th>Item</th><th>Value</th></tr><tr><td>Pressure</td><td><p>250 bar</p></td></tr></table>
    <pre>line one
  indented line two</pre>
    <script>track("page")</script>
    <!-- an HTML comment -->
  </article>
</main>
<footer>Copyright footer</footer>
</body>
</html>
"""


def load(page: str | bytes, name: str = "site/manual.html") -> Document:
    data = page.encode() if isinstance(page, str) else page
    documents = list(HtmlConnector().load(SourceData(name, data)))
    assert len(documents) == 1
    return documents[0]


def test_heading_paths_and_title() -> None:
    document = load(PAGE)
    assert document.title == "Excavator Manual"
    assert [section.heading for section in document.sections] == [
        "Hydraulics",
        "Hydraulics > Pumps",
        "Hydraulics > Pumps > Gear pump",
        "Hydraulics > Specifications",
    ]


def test_scripts_styles_navigation_and_page_chrome_are_dropped() -> None:
    text = load(PAGE).text
    for invisible in ("color: red", "Site banner", "Menu entry", "Copyright footer", "track(", "comment"):
        assert invisible not in text


def test_blocks_stay_apart_and_inline_text_is_joined() -> None:
    sections = load(PAGE).sections
    assert sections[0].text == "Intro to the hydraulic system."
    assert sections[1].text.split("\n\n") == [
        "Bleed the pump.",
        "Then restart it.",
        "Finally check for leaks.",
    ]


def test_lists_and_tables_become_lines() -> None:
    sections = load(PAGE).sections
    assert sections[2].text.splitlines() == ["- Check the seals", "- Check the shaft", "for play"]
    assert sections[3].text.splitlines()[:2] == ["Item | Value", "Pressure | 250 bar"]


def test_preformatted_text_keeps_its_layout() -> None:
    assert "line one\n  indented line two" in load(PAGE).sections[3].text


def test_title_falls_back_to_first_h1_then_none() -> None:
    assert load("<h2>Sub</h2><h1>Pump</h1><p>text</p>").title == "Pump"
    assert load("<p>just text</p>", name="site/pump-page.htm").title == ""


def test_declared_charset_is_honoured_when_not_utf8() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Überdruck</p></body></html>'
    assert load(page.encode("latin-1")).text == "Überdruck"


def test_undeclared_latin1_is_refused() -> None:
    with pytest.raises(CorruptFileError, match="UTF-8"):
        load("<p>Überdruck</p>".encode("latin-1"))
