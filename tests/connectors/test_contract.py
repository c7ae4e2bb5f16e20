"""The connector contract (``rag_fed.testing.connector``), run once per connector on small real files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connectors import Connector, SourceData
from connectors.html import HtmlConnector
from connectors.markdown import MarkdownConnector
from connectors.pdf import PdfConnector
from connectors.text import TextConnector
from connectors.worklogs import WorkOrderConnector
from rag_fed.testing.connector import ConnectorContract

MakePdf = Callable[..., bytes]

MANUAL_TEXT = "PUMP MAINTENANCE\n\nDrain the pump housing.\n\nFILTERS\n\nReplace the return filter.\n"
MANUAL_MARKDOWN = "# Pump\n\n## Maintenance\n\nDrain the pump housing.\n\n- step one\n- step two\n"
MANUAL_HTML = (
    "<html><head><title>Pump</title></head><body><h1>Pump</h1>"
    "<h2>Maintenance</h2><p>Drain the pump housing.</p></body></html>"
)


@pytest.mark.unit
class TestTextContract(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return TextConnector()

    @pytest.fixture
    def good_source(self) -> SourceData:
        return SourceData("manuals/pump.txt", MANUAL_TEXT.encode())

    @pytest.fixture
    def changed_source(self) -> SourceData:
        return SourceData("manuals/pump.txt", MANUAL_TEXT.replace("return", "suction").encode())

    @pytest.fixture
    def empty_source(self) -> SourceData:
        return SourceData("manuals/blank.txt", b" \n\t\r\n")


@pytest.mark.unit
class TestMarkdownContract(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return MarkdownConnector()

    @pytest.fixture
    def good_source(self) -> SourceData:
        return SourceData("docs/pump.md", MANUAL_MARKDOWN.encode())

    @pytest.fixture
    def changed_source(self) -> SourceData:
        return SourceData("docs/pump.md", MANUAL_MARKDOWN.replace("step two", "step 2").encode())

    @pytest.fixture
    def empty_source(self) -> SourceData:
        return SourceData("docs/empty.md", b"---\ntitle: nothing\n---\n\n<!-- a comment -->\n")


@pytest.mark.unit
class TestHtmlContract(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return HtmlConnector()

    @pytest.fixture
    def good_source(self) -> SourceData:
        return SourceData("site/pump.html", MANUAL_HTML.encode())

    @pytest.fixture
    def changed_source(self) -> SourceData:
        return SourceData("site/pump.html", MANUAL_HTML.replace("Drain", "Flush").encode())

    @pytest.fixture
    def empty_source(self) -> SourceData:
        page = "<html><head><title>x</title><style>p{}</style></head><body><script>go()</script></body></html>"
        return SourceData("site/empty.html", page.encode())


@pytest.mark.unit
class TestPdfContract(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return PdfConnector()

    @pytest.fixture
    def good_source(self, manual_pdf: bytes) -> SourceData:
        return SourceData("manuals/excavator.pdf", manual_pdf)

    @pytest.fixture
    def changed_source(self, make_pdf: MakePdf, manual_pages: list[list[str]]) -> SourceData:
        pages = [[line.replace("10 hours", "50 hours") for line in page] for page in manual_pages]
        return SourceData("manuals/excavator.pdf", make_pdf(pages, title="Excavator Service Manual"))

    @pytest.fixture
    def empty_source(self, make_pdf: MakePdf) -> SourceData:
        return SourceData("manuals/scanned.pdf", make_pdf([[], []]))


@pytest.mark.unit
class TestWorkOrderContract(ConnectorContract):
    @pytest.fixture
    def connector(self) -> Connector:
        return WorkOrderConnector()

    @pytest.fixture
    def good_source(self, excavator_sample: Path) -> SourceData:
        return SourceData(str(excavator_sample), excavator_sample.read_bytes())

    @pytest.fixture
    def changed_source(self, excavator_sample: Path) -> SourceData:
        changed = excavator_sample.read_bytes().replace(b"BUCKET WON'T OPEN", b"BUCKET WON'T CLOSE")
        return SourceData(str(excavator_sample), changed)

    @pytest.fixture
    def empty_source(self) -> SourceData:
        return SourceData("logs/empty.csv", b"id,description,asset\n1,,EX-1\n2,NA,EX-2\n")


@pytest.mark.unit
class TestWorkOrderJsonContract(TestWorkOrderContract):
    @pytest.fixture
    def good_source(self) -> SourceData:
        return SourceData("logs/orders.json", b'[{"id": 7, "description": "Hydraulic leak", "asset": "EX-1"}]')

    @pytest.fixture
    def changed_source(self) -> SourceData:
        return SourceData("logs/orders.json", b'[{"id": 7, "description": "Fuel leak", "asset": "EX-1"}]')

    @pytest.fixture
    def empty_source(self) -> SourceData:
        return SourceData("logs/orders.json", b"[]")
