"""Federated splits: reproducible, every document in exactly one site, the right groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.datasets import EvalDataset, EvalDoc, load_dataset
from eval.splits import field_site_id, split_corpus
from rag_fed.crypto import validate_node_id
from rag_fed.errors import InputError

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"

PUMP = [
    "pump impeller seal leak",
    "pump seal replaced impeller worn",
    "impeller pump cavitation seal",
    "seal pump",
]
BRAKE = ["brake pad caliper worn", "caliper brake fluid pad", "brake caliper seized pad", "pad brake"]


def toy_dataset(n_extra: int = 0) -> EvalDataset:
    texts = PUMP + BRAKE + [f"note {i}" for i in range(n_extra)]
    corpus = [EvalDoc(f"d{i:02d}", "", text, {"plant": "north" if i % 3 else "south"}) for i, text in enumerate(texts)]
    return EvalDataset(name="toy", corpus=corpus, queries=[])


def assert_partition(sites: dict[str, list[str]], dataset: EvalDataset) -> None:
    placed = [doc_id for doc_ids in sites.values() for doc_id in doc_ids]
    assert sorted(placed) == sorted(doc.doc_id for doc in dataset.corpus)
    assert all(sites.values()), "no site may be empty"


def test_field_split_groups_by_value() -> None:
    dataset = toy_dataset()
    sites = split_corpus(dataset, "field:plant", seed=0)
    assert list(sites) == ["plant-north", "plant-south"]
    assert sites["plant-south"] == ["d00", "d03", "d06"]
    assert_partition(sites, dataset)


@pytest.mark.parametrize(
    ("name", "value", "site_id"),
    [("company", "company_a", "company-a"), ("asset", "A", "asset-a"), ("Plant", "Nord Süd 7", "plant-nord-s-d-7")],
)
def test_field_site_ids_are_valid_node_ids(name: str, value: str, site_id: str) -> None:
    assert field_site_id(name, value) == site_id
    validate_node_id(site_id)


def test_field_values_that_collide_are_refused() -> None:
    corpus = [EvalDoc("d1", "", "x", {"plant": "North_1"}), EvalDoc("d2", "", "y", {"plant": "north-1"})]
    with pytest.raises(InputError, match="both map to site id 'plant-north-1'"):
        split_corpus(EvalDataset(name="toy", corpus=corpus, queries=[]), "field:plant")


def test_random_split_is_seeded_and_balanced() -> None:
    dataset = toy_dataset(n_extra=22)  # 30 documents
    first = split_corpus(dataset, "random:4", seed=5)
    assert first == split_corpus(dataset, "random:4", seed=5)
    assert first != split_corpus(dataset, "random:4", seed=6)
    assert list(first) == ["site-0", "site-1", "site-2", "site-3"]
    assert sorted(len(doc_ids) for doc_ids in first.values()) == [7, 7, 8, 8]
    assert_partition(first, dataset)


def test_cluster_split_separates_topics() -> None:
    dataset = toy_dataset()
    sites = split_corpus(dataset, "cluster:2", seed=1)
    assert_partition(sites, dataset)
    groups = sorted(sorted(doc_ids) for doc_ids in sites.values())
    assert groups == [["d00", "d01", "d02", "d03"], ["d04", "d05", "d06", "d07"]]


def test_cluster_split_on_embeddings() -> None:
    dataset = toy_dataset()
    rng = np.random.default_rng(0)
    embeddings = np.vstack([[1.0, 0.0, 0.0]] * 4 + [[0.0, 0.0, 1.0]] * 4) + rng.normal(0, 0.05, (8, 3))
    sites = split_corpus(dataset, "cluster:2", seed=3, embeddings=embeddings)
    assert sorted(sorted(doc_ids) for doc_ids in sites.values()) == [
        ["d00", "d01", "d02", "d03"],
        ["d04", "d05", "d06", "d07"],
    ]
    with pytest.raises(InputError, match="one row per document"):
        split_corpus(dataset, "cluster:2", seed=3, embeddings=embeddings[:5])


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ("by-company", "accepted forms"),
        ("random:0", "positive integer"),
        ("cluster:x", "positive integer"),
        ("random:99", "only 8 documents"),
        ("field:asset", "no metadata field 'asset'"),
    ],
)
def test_bad_specs(spec: str, what: str) -> None:
    with pytest.raises(InputError, match=what):
        split_corpus(toy_dataset(), spec, seed=0)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are not on this machine")
def test_cluster_split_on_cranfield_is_reproducible() -> None:
    dataset = load_dataset(SHARED / "cranfield")
    first = split_corpus(dataset, "cluster:4", seed=11)
    assert first == split_corpus(dataset, "cluster:4", seed=11)
    assert len(first) == 4
    assert_partition(first, dataset)
