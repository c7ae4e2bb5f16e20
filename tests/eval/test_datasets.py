"""Dataset loaders on the real shared datasets and on small malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import load_beir, load_dataset, load_maintnorm, load_nist_excavators, load_qa
from eval.splits import split_corpus
from rag_fed.crypto import validate_node_id
from rag_fed.errors import InputError

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets are not on this machine")

NIST_HEADER = "BscStartDate,Asset,OriginalShorttext,PMType,Cost,MajorSystem,Part,FM\n"


def write_beir(root: Path, corpus: str, queries: str, qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(corpus, encoding="utf-8")
    (root / "queries.jsonl").write_text(queries, encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return root


GOOD_CORPUS = '{"_id": "d1", "title": "Pump", "text": "pump seal"}\n{"_id": "d2", "text": "brake pad"}\n'
GOOD_QUERIES = '{"_id": "q1", "text": "seal?", "metadata": {"answer": "the seal"}}\n{"_id": "q2", "text": "x"}\n'
GOOD_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n"


def test_beir_small(tmp_path: Path) -> None:
    dataset = load_beir(write_beir(tmp_path / "toy", GOOD_CORPUS, GOOD_QUERIES, GOOD_QRELS))
    assert [doc.doc_id for doc in dataset.corpus] == ["d1", "d2"]
    assert dataset.corpus[1].title == ""
    # q2 has no judgement in the split, and grade 0 is "not relevant".
    assert [(q.query_id, q.answer, dict(q.gold_doc_ids)) for q in dataset.queries] == [("q1", "the seal", {"d1": 2})]
    assert load_dataset(tmp_path / "toy").corpus == dataset.corpus


@pytest.mark.parametrize(
    ("corpus", "queries", "qrels", "where", "what"),
    [
        (GOOD_CORPUS, GOOD_QUERIES, "q1\td1\t2\n", "test.tsv:1", "header"),
        (
            '{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": \n',
            GOOD_QUERIES,
            GOOD_QRELS,
            "corpus.jsonl:2",
            "JSON",
        ),
        (
            '{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n',
            GOOD_QUERIES,
            GOOD_QRELS,
            "corpus.jsonl:2",
            "dup",
        ),
        (GOOD_CORPUS, '{"_id": "q1"}\n', GOOD_QRELS, "queries.jsonl:1", "'text'"),
        (GOOD_CORPUS, GOOD_QUERIES, "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", "test.tsv:2", "integer"),
        (GOOD_CORPUS, GOOD_QUERIES, "query-id\tcorpus-id\tscore\nq1\td1\n", "test.tsv:2", "3 tab-separated"),
        (
            GOOD_CORPUS,
            GOOD_QUERIES,
            "query-id\tcorpus-id\tscore\nq1\td7\t1\n",
            "test.tsv",
            "unknown documents",
        ),
    ],
)
def test_beir_malformed(tmp_path: Path, corpus: str, queries: str, qrels: str, where: str, what: str) -> None:
    root = write_beir(tmp_path / "bad", corpus, queries, qrels)
    with pytest.raises(InputError, match=what) as caught:
        load_beir(root)
    assert where in str(caught.value)


def test_qa_with_sibling_corpus(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text(GOOD_CORPUS, encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    records = [
        {"id": "a", "question": "Seal?", "answer": "pump seal", "gold": ["d1"]},
        {"id": "b", "question": "Q", "answer": "x"},
    ]
    qa.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    dataset = load_dataset(qa)
    assert len(dataset.corpus) == 2
    assert [(q.query_id, q.answer, dict(q.gold_doc_ids)) for q in dataset.queries] == [
        ("a", "pump seal", {"d1": 1}),
        ("b", "x", {}),
    ]
    assert dataset.qrels() == {"a": {"d1": 1}}


@pytest.mark.parametrize(
    ("lines", "where", "what"),
    [
        (['{"id": "a", "question": "q", "answer": "x"}', "not json"], ":2", "JSON"),
        (['{"id": "a", "question": "q"}'], ":1", "'answer'"),
        (['{"id": "a", "question": "q", "answer": "x", "gold": ["nope"]}'], ":1", "not in the corpus"),
        (
            ['{"id": "a", "question": "q", "answer": "x"}', '{"id": "a", "question": "q", "answer": "y"}'],
            ":2",
            "duplicate",
        ),
    ],
)
def test_qa_malformed(tmp_path: Path, lines: list[str], where: str, what: str) -> None:
    (tmp_path / "corpus.jsonl").write_text(GOOD_CORPUS, encoding="utf-8")
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=what) as caught:
        load_qa(qa)
    assert f"qa.jsonl{where}" in str(caught.value)


def write_maintnorm(root: Path, records_by_company: dict[str, str]) -> Path:
    for company, text in records_by_company.items():
        folder = root / company
        folder.mkdir(parents=True)
        for split in ("train", "val", "test"):
            (folder / f"{split}.norm").write_text(text if split == "train" else "", encoding="utf-8")
    return root


def test_maintnorm_small(tmp_path: Path) -> None:
    records = "X1\t<id>\nREPL\treplace\nHYD\thydraulic\nHOSE\those\n\nCHK\tcheck\nPMP\tpump\nSEAL\tseal\n\n"
    root = write_maintnorm(tmp_path / "mn", {"company_a": records, "company_b": records})
    dataset = load_dataset(root)
    assert [doc.text for doc in dataset.corpus[:2]] == ["X1 REPL HYD HOSE", "CHK PMP SEAL"]
    assert {doc.metadata["company"] for doc in dataset.corpus} == {"company_a", "company_b"}
    # Two distinct normalised texts, each shared by one record per company -> two queries, two gold each.
    assert len(dataset.queries) == 2
    by_words = {frozenset(q.text.split()): set(q.gold_doc_ids) for q in dataset.queries}
    assert by_words[frozenset({"check", "pump", "seal"})] == {
        "company_a/train/00001",
        "company_b/train/00001",
    }
    assert by_words[frozenset({"replace", "hydraulic", "hose"})] == {
        "company_a/train/00000",
        "company_b/train/00000",
    }


def test_maintnorm_line_without_tab(tmp_path: Path) -> None:
    root = write_maintnorm(tmp_path / "mn", {"company_a": "REPL\treplace\nHOSE hose\n"})
    with pytest.raises(InputError, match="raw<TAB>normalised") as caught:
        load_maintnorm(root)
    assert "train.norm:2" in str(caught.value)


def test_nist_small_repairs_unquoted_comma(tmp_path: Path) -> None:
    csv_path = tmp_path / "excavators-cleaned.csv"
    rows = [
        "2004-07-01,A,HYD HOSE LEAK,PM01,10,Hydraulic System,Hose,Leak",
        "2004-07-02,B,won,t swing,PM01,94.6,Electrics,NA",
        "2004-07-03,B,replace leaking hose,PM01,5,Hydraulic System,Hose,Leak",
    ]
    csv_path.write_text(NIST_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    dataset = load_nist_excavators(tmp_path)
    assert [doc.doc_id for doc in dataset.corpus] == ["A-00000", "B-00001", "B-00002"]
    assert dataset.corpus[1].text == "won,t swing"
    assert dict(dataset.corpus[1].metadata) == {
        "asset": "B",
        "date": "2004-07-02",
        "pmtype": "PM01",
        "cost": "94.6",
    }
    assert [(q.text, set(q.gold_doc_ids)) for q in dataset.queries] == [
        ("Hydraulic System Hose Leak", {"A-00000", "B-00002"})
    ]


@pytest.mark.parametrize(
    ("content", "where", "what"),
    [
        ("Asset,OriginalShorttext\nA,x\n", ":1", "lacks columns"),
        (NIST_HEADER + "2004-07-01,A,,PM01,1,NA,NA,NA\n", ":2", "OriginalShorttext"),
    ],
)
def test_nist_malformed(tmp_path: Path, content: str, where: str, what: str) -> None:
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=what) as caught:
        load_dataset(csv_path)
    assert f"orders.csv{where}" in str(caught.value)


def test_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unrecognised dataset layout"):
        load_dataset(tmp_path)


@needs_shared
def test_real_cranfield() -> None:
    dataset = load_dataset(SHARED / "cranfield")
    assert (dataset.name, len(dataset.corpus), len(dataset.queries)) == ("cranfield", 1400, 225)
    assert sum(len(grades) for grades in dataset.qrels().values()) == 1612


@needs_shared
def test_real_emanual() -> None:
    dataset = load_beir(SHARED / "emanual_s10" / "beir")
    assert (len(dataset.corpus), len(dataset.queries)) == (451, 50)
    assert all(query.answer and len(query.gold_doc_ids) == 1 for query in dataset.queries)


@needs_shared
def test_real_maintnorm_is_seeded() -> None:
    dataset = load_maintnorm(SHARED / "maintnorm", n_queries=50, seed=3)
    assert len(dataset.corpus) == 12_000
    assert {doc.metadata["company"] for doc in dataset.corpus} == {"company_a", "company_b", "company_c"}
    assert list(split_corpus(dataset, "field:company")) == ["company-a", "company-b", "company-c"]
    doc_ids = {doc.doc_id for doc in dataset.corpus}
    assert len(dataset.queries) == 50
    assert all(set(q.gold_doc_ids) <= doc_ids and len(q.text.split()) >= 2 for q in dataset.queries)
    assert "Synthetic" in dataset.description
    again = load_maintnorm(SHARED / "maintnorm", n_queries=50, seed=3)
    other = load_maintnorm(SHARED / "maintnorm", n_queries=50, seed=4)
    assert again.queries == dataset.queries
    assert other.queries != dataset.queries


@needs_shared
def test_real_nist() -> None:
    dataset = load_dataset(SHARED / "nist_excavators_mwo")
    assert len(dataset.corpus) == 5485
    assert {doc.metadata["asset"] for doc in dataset.corpus} == set("ABCDE")
    assert {doc.metadata["pmtype"] for doc in dataset.corpus} <= {f"PM{n:02d}" for n in range(1, 20)}
    assert len(dataset.queries) == 200
    assert all(1 <= len(q.gold_doc_ids) <= 50 for q in dataset.queries)
    assert load_dataset(SHARED / "nist_excavators_mwo", seed=1).queries != dataset.queries
    # The five assets become five sites whose ids the federation accepts.
    sites = split_corpus(dataset, "field:asset")
    assert list(sites) == [f"asset-{letter}" for letter in "abcde"]
    assert all(validate_node_id(site_id) for site_id in sites)
