"""Split an evaluation corpus into federated sites: by a metadata field, by topic clusters, or at random.

Every split is reproducible from its spec and seed and puts every document in exactly one site; sites
are returned sorted by id, documents in corpus order.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from eval._records import EvalDataset
from eval.topics import SparseRows, spherical_kmeans, tfidf_rows
from rag_fed.errors import InputError

__all__ = ["SPLIT_FORMS", "field_site_id", "split_corpus"]

SPLIT_FORMS = "'field:NAME' (e.g. field:company), 'cluster:N' (N topic sites) or 'random:N' (N sites)"
_SPEC = re.compile(r"(field|cluster|random):(.+)")


def _site_count(value: str, spec: str, n_docs: int) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"split spec {spec!r}: N must be a positive integer; accepted forms: {SPLIT_FORMS}")
    count = int(value)
    if count > n_docs:
        raise InputError(f"split spec {spec!r}: {count} sites but only {n_docs} documents")
    return count


def field_site_id(name: str, value: str) -> str:
    """A valid site id (lowercase letters, digits, dashes; at most 63) for the sites of ``field:NAME``.

    ``company_a`` becomes ``company-a``; a value that does not already start with the field's name gets
    it as a prefix, so NIST's asset ``A`` becomes ``asset-a`` rather than a bare ``a``.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    prefix = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if prefix and not slug.startswith(prefix):
        slug = f"{prefix}-{slug}" if slug else prefix
    return slug[:63].strip("-") or "site"


def _by_field(dataset: EvalDataset, name: str) -> dict[str, list[str]]:
    sites: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    lacking = [doc.doc_id for doc in dataset.corpus if not doc.metadata.get(name)]
    if lacking:
        fields = sorted({key for doc in dataset.corpus for key in doc.metadata})
        raise InputError(
            f"{len(lacking)} documents (e.g. {lacking[:3]}) have no metadata field {name!r}; "
            f"fields present in {dataset.name!r}: {fields or 'none'}"
        )
    for doc in dataset.corpus:
        value = doc.metadata[name]
        site_id = field_site_id(name, value)
        if values.setdefault(site_id, value) != value:
            raise InputError(
                f"values {values[site_id]!r} and {value!r} of field {name!r} both map to site id {site_id!r}; "
                "site ids keep only lowercase letters, digits and dashes"
            )
        sites.setdefault(site_id, []).append(doc.doc_id)
    return sites


def _at_random(dataset: EvalDataset, count: int, seed: int) -> dict[str, list[str]]:
    order = list(range(len(dataset.corpus)))
    random.Random(seed).shuffle(order)
    # Dealing the shuffled documents round-robin keeps site sizes within one of each other.
    site_of = {position: index % count for index, position in enumerate(order)}
    return _group(dataset, [site_of[position] for position in range(len(dataset.corpus))], "site", count)


def _by_topic(
    dataset: EvalDataset, count: int, seed: int, embeddings: npt.NDArray[np.floating] | None
) -> dict[str, list[str]]:
    rows: SparseRows | npt.NDArray[np.float64]
    if embeddings is None:
        rows = tfidf_rows([f"{doc.title} {doc.text}" for doc in dataset.corpus])
    else:
        if embeddings.ndim != 2 or embeddings.shape[0] != len(dataset.corpus):
            raise InputError(
                f"embeddings must have one row per document: shape {embeddings.shape}, {len(dataset.corpus)} documents"
            )
        rows = np.asarray(embeddings, dtype=np.float64)
    labels = spherical_kmeans(rows, count, seed)
    return _group(dataset, labels.tolist(), "cluster", count)


def _group(dataset: EvalDataset, labels: Sequence[int], prefix: str, count: int) -> dict[str, list[str]]:
    width = len(str(count - 1))
    sites: dict[str, list[str]] = {f"{prefix}-{index:0{width}d}": [] for index in range(count)}
    for doc, label in zip(dataset.corpus, labels, strict=True):
        sites[f"{prefix}-{label:0{width}d}"].append(doc.doc_id)
    return sites


def split_corpus(
    dataset: EvalDataset,
    spec: str,
    seed: int = 0,
    embeddings: npt.NDArray[np.floating] | None = None,
) -> dict[str, list[str]]:
    """Assign every document of ``dataset`` to one site, as ``{site_id: [doc_id, ...]}``.

    ``spec`` is ``field:NAME`` (one site per value of metadata field NAME, site id from the value by
    :func:`field_site_id`, e.g. ``company-a``, ``asset-b``),
    ``cluster:N`` (spherical k-means into N topic sites, on ``embeddings`` rows aligned with the corpus
    if given, else on TF-IDF vectors; ids ``cluster-i``) or ``random:N`` (balanced seeded shuffle;
    ids ``site-i``). Raises ``InputError`` for a malformed spec, a missing field or N > documents.
    """
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise InputError(f"unknown split spec {spec!r}; accepted forms: {SPLIT_FORMS}")
    if not dataset.corpus:
        raise InputError(f"dataset {dataset.name!r} has no documents to split")
    kind, value = match.groups()
    if kind == "field":
        sites = _by_field(dataset, value)
    elif kind == "random":
        sites = _at_random(dataset, _site_count(value, spec, len(dataset.corpus)), seed)
    else:
        sites = _by_topic(dataset, _site_count(value, spec, len(dataset.corpus)), seed, embeddings)
    return dict(sorted(sites.items()))
