"""The contract every connector keeps, run once per connector on small real files."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors import Connector, SourceData, load_documents
from connectors.errors import ConnectorError, EmptyFileError
from connectors.html import HtmlConnector
from connectors.markdown import MarkdownConnector
from connectors.pdf import PdfConnector
from connectors.text import TextConnector
from connectors.worklogs import WorkOrderConnector

MakePdf = Callable[..., bytes]

# PNG magic, NUL bytes and every byte value: binary in any text encoding, and not a PDF.
JUNK = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


class ConnectorContract:
    """Subclass per connector and provide the fixtures below; every test must pass unchanged."""

    @pytest.fixture
    def connector(self) -> Connector:
        raise NotImplementedError

    @pytest.fixture
    def good_source(self) -> SourceData:
        raise NotImplementedError

    @pytest.fixture
    def changed_source(self) -> SourceData:
        """The good file with some of its text changed."""
        raise NotImplementedError

    @pytest.fixture
    def empty_source(self) -> SourceData:
        raise NotImplementedError

    @pytest.fixture
    def junk_source(self, good_source: SourceData) -> SourceData:
        return SourceData(name=f"junk{good_source.suffix}", data=JUNK)

    def test_is_a_connector_with_lowercase_suffixes(self, connector: Connector) -> None:
        assert isinstance(connector, Connector)
        assert connector.suffixes
        assert all(suffix.startswith(".") and suffix == suffix.lower() for suffix in connector.suffixes)

    def test_good_file_yields_documents_with_text(self, connector: Connector, good_source: SourceData) -> None:
        documents = list(connector.load(good_source))
        assert documents
        for document in documents:
            assert document.source == good_source.name
            assert document.text.strip()
            assert document.title.strip()
            assert all(section.text.strip() for section in document.sections)

    def test_content_hash_is_deterministic(self, connector: Connector, good_source: SourceData) -> None:
        first = [document.content_hash for document in connector.load(good_source)]
        second = [document.content_hash for document in connector.load(good_source)]
        assert first == second

    def test_content_hash_changes_with_text(
        self, connector: Connector, good_source: SourceData, changed_source: SourceData
    ) -> None:
        before = {document.content_hash for document in connector.load(good_source)}
        after = {document.content_hash for document in connector.load(changed_source)}
        assert before != after

    def test_empty_file_raises_empty_file_error(self, connector: Connector, empty_source: SourceData) -> None:
        with pytest.raises(EmptyFileError) as caught:
            list(connector.load(empty_source))
        assert caught.value.source == empty_source.name
        assert empty_source.name in str(caught.value)

    def test_junk_raises_connector_error_naming_the_file(self, connector: Connector, junk_source: SourceData) -> None:
        with pytest.raises(ConnectorError) as caught:
            list(connector.load(junk_source))
        assert junk_source.name in str(caught.value)
        assert caught.value.reason

    def test_registry_loads_the_same_documents(self, connector: Connector, good_source: SourceData) -> None:
        assert load_documents(good_source, [connector]) == list(connector.load(good_source))

    def test_document_is_immutable(self, connector: Connector, good_source: SourceData) -> None:
        document = next(iter(connector.load(good_source)))
        with pytest.raises(dataclasses.FrozenInstanceError):
            document.title = "changed"  # type: ignore[misc]


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
