"""``term_rarity``: the weights of a question's terms from the keyword index's counts (the site's own, or
the federation's when they apply), so a span covers a question by the same weights wherever it is held."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, SiteStore
from rag_fed.protocol import QueryTermStats
from rag_fed.site.rarity import rarity, term_rarity

pytestmark = pytest.mark.unit

DIM = 4
QUESTION = "Which pump seals leak, and are the gaskets worn?"
SITE_A = ["pump seal leaking", "pump bearing", "pump impeller worn", "motor belt", "valve seat"]
SITE_B = ["pump casing", "pump seals", "belt pulley", "flange bolt", "gasket cut"]


def _store(root: Path, texts: Sequence[str]) -> SiteStore:
    store = SiteStore.open(root, "test@1", DIM)
    vectors = np.eye(DIM, dtype=np.float32)[np.arange(len(texts)) % DIM]
    with store.transaction() as txn:
        entry = DocumentEntry("doc", "src", "", "text", "h", "h")
        txn.put_document(entry, [ChunkDraft(text, i) for i, text in enumerate(texts)], vectors)
    return store


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[str, SiteStore]]:
    opened = {
        "a": _store(tmp_path / "a", SITE_A),
        "b": _store(tmp_path / "b", SITE_B),
        "central": _store(tmp_path / "central", SITE_A + SITE_B),
    }
    yield opened
    for store in opened.values():
        store.close()


def _federation(stores: Sequence[SiteStore], version: str) -> QueryTermStats:
    """The sums a gateway sends: every token of every store, counted over all of them."""
    counts = [store.docstore.term_counts() for store in stores]
    frequencies: dict[str, int] = {}
    for count in counts:
        for token, held in count.frequencies.items():
            frequencies[token] = frequencies.get(token, 0) + held
    return QueryTermStats(
        site_version=version,
        chunks=sum(count.chunks for count in counts),
        tokens=sum(count.tokens for count in counts),
        frequencies=frequencies,
    )


def test_own_counts_weigh_each_term_by_the_chunks_that_hold_it(stores: dict[str, SiteStore]) -> None:
    found = term_rarity(stores["a"].docstore, QUESTION, None, "v1")
    weights = found.weights
    assert found.chunks == 5
    # "which" and "are" only ask; of the 5 chunks "pump" is in 3, "seal" in 1 and "gasket" in none
    assert set(weights) == {"pump", "seal", "leak", "gasket", "worn"}
    assert weights["pump"] == pytest.approx(rarity(5, 3))
    assert weights["seal"] == pytest.approx(rarity(5, 1))
    assert weights["gasket"] == pytest.approx(rarity(5, 0)) == pytest.approx(math.log(6 / 0.5))
    assert weights["gasket"] > weights["seal"] > weights["pump"]


def test_the_federations_counts_give_every_site_the_weights_of_one_central_index(
    stores: dict[str, SiteStore],
) -> None:
    federation = _federation([stores["a"], stores["b"]], "v1")
    central = term_rarity(stores["central"].docstore, QUESTION, None, "v1")
    for site in ("a", "b"):
        assert term_rarity(stores[site].docstore, QUESTION, federation, "v1") == central
    assert term_rarity(stores["a"].docstore, QUESTION, None, "v1") != central


def test_stale_or_incomplete_statistics_leave_the_sites_own_counts(stores: dict[str, SiteStore]) -> None:
    own = term_rarity(stores["a"].docstore, QUESTION, None, "v1").weights
    federation = _federation([stores["a"], stores["b"]], "v1")
    stale = federation.model_copy(update={"site_version": "v0"})
    assert term_rarity(stores["a"].docstore, QUESTION, stale, "v1").weights == pytest.approx(own)
    without_pump = {token: held for token, held in federation.frequencies.items() if token != "pump"}
    incomplete = federation.model_copy(update={"frequencies": without_pump})
    assert term_rarity(stores["a"].docstore, QUESTION, incomplete, "v1").weights == pytest.approx(own)


def test_a_question_of_question_words_only_has_no_weights(stores: dict[str, SiteStore]) -> None:
    assert term_rarity(stores["a"].docstore, "What is it?", None, "v1").weights == {}
