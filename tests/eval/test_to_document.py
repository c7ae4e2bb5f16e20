"""A document without a title stays without one: its id must not be embedded or indexed as text."""

from __future__ import annotations

import pytest

from eval._records import EvalDoc
from eval.site_systems import to_document

pytestmark = pytest.mark.unit


def test_a_missing_title_stays_missing() -> None:
    document = to_document(EvalDoc(doc_id="1", title="", text="compact memories of the wing"), "site-a")
    assert document.title == ""
    assert "1" not in document.text.split() and document.key == "1"


def test_a_title_is_kept() -> None:
    assert to_document(EvalDoc(doc_id="d7", title="Wing flutter", text="..."), "site-a").title == "Wing flutter"
