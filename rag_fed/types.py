"""Value types shared by the site, the router and the API: passages, citations, site answers."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CITATION_TAG",
    "Citation",
    "Evidence",
    "Passage",
    "SearchMode",
    "SiteAnswer",
    "SiteStatus",
    "document_anchor",
]

SearchMode = Literal["dense", "keyword", "hybrid"]
SiteStatus = Literal["answered", "failed", "timed_out", "skipped"]


CITATION_TAG = re.compile(r"\[([a-z0-9][a-z0-9-]{0,62}):([^\[\]\n]+?)\]")
"""A ``[site:document#section]`` tag in answer text (group 1: the site id, group 2: the rest, which may
hold spaces: sections are headings such as ``4 Belt tracking``)."""


def document_anchor(section: str, page: int | None) -> str:
    """Where in a document a place is, as citations name it: the page of a PDF (``p3``), else the
    innermost heading of the section path."""
    if page is not None:
        return f"p{page}"
    return section.rsplit(" > ", 1)[-1].strip()


class Citation(BaseModel):
    """Where a passage came from: enough to open it (site, document, section or page)."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    doc_id: str
    title: str
    section: str = ""
    page: int | None = None
    lines: tuple[int, int] | None = None
    """First and last line (1-based) of the source file the passage came from, where known (plain text)."""

    @property
    def anchor(self) -> str:
        """Where in the document (:func:`document_anchor`)."""
        return document_anchor(self.section, self.page)

    @property
    def heading(self) -> str:
        """The document title, then the section, each when there is one: how prompts name a source."""
        return " — ".join(part for part in (self.title, self.section) if part)

    @property
    def label(self) -> str:
        """The ``[site:document#section]`` tag answers cite."""
        anchor = self.anchor
        return f"[{self.site_id}:{self.doc_id}#{anchor}]" if anchor else f"[{self.site_id}:{self.doc_id}]"


class Passage(BaseModel):
    """A retrieved chunk with its score and rank in the ranking that produced it (1 = best).

    ``dense_score`` (cosine with the query) and ``keyword_score`` (BM25 at the site) are the components
    the site ranked by, ``None`` where the passage was not in that ranking's candidates. The router needs
    them to fuse hybrid rankings across sites the way one central index would (rag_fed/router/merge.py).
    """

    model_config = ConfigDict(frozen=True)

    citation: Citation
    chunk_id: int
    text: str
    score: float
    rank: int = Field(ge=1)
    dense_score: float | None = None
    keyword_score: float | None = None


class Evidence(BaseModel):
    """Consecutive sentences or steps of one passage that answer the question, with their citation.

    ``score`` (0..1) is how well the span answers the question, from ``similarity`` (the best cosine
    between the question and one of its sentences, by the embedder version of the query, so it compares
    across the sites of a federation), ``coverage`` (the share of the question's content terms, weighted
    by their rarity in the collection, with the federation's counts where the query carries them, that the
    span and its heading contain) and the cosine of the passage it is cut from:
    ``(similarity + coverage + passage cosine) / 3``; it ranks the evidence. Whether the best item answers
    at all is ``(similarity + 2 coverage) / 3`` (``rag_fed.answers.evidence.answerability``).
    ``missing`` lists the question's codes and part numbers that the span does not contain, ``absent``
    those that the whole passage (with its heading) does not contain either.
    """

    model_config = ConfigDict(frozen=True)

    citation: Citation
    text: str = Field(max_length=4000)
    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    similarity: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    coverage: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    passage_rank: int = Field(ge=1)
    chunk_id: int
    missing: list[str] = Field(default_factory=list, max_length=20)
    absent: list[str] = Field(default_factory=list, max_length=20)


class SiteAnswer(BaseModel):
    """One site's answer to a question, written by its local model from its own passages."""

    site_id: str
    answer: str
    passages: list[Passage] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    model: str = ""
