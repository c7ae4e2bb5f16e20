"""The ``Connector`` contract (``connectors.base.Connector``): a file in, documents with text and a title out,
content hashes that follow the text, and an empty or unreadable file refused with an error naming it.

Subclass :class:`ConnectorContract`, name the subclass ``Test...``, and give it the fixtures it declares:
``connector``, ``good_source``, ``changed_source`` (the good file with some text changed), ``empty_source``.
"""

from __future__ import annotations

import dataclasses

import pytest

from connectors import Connector, SourceData, load_documents
from connectors.errors import ConnectorError, EmptyFileError

__all__ = ["JUNK", "ConnectorContract"]

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
