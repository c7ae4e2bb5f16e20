"""Work-order loader on real NIST excavator rows and small CSV/JSON/JSONL exports."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from connectors import SourceData, WorkOrderColumns
from connectors.errors import ConnectorError, CorruptFileError, EmptyFileError
from connectors.worklogs import WorkOrderConnector

pytestmark = pytest.mark.unit

FULL_EXCAVATOR_FILE = Path("/work/shared/datasets/nist_excavators_mwo/excavators-cleaned.csv")


def source(name: str, text: str) -> SourceData:
    return SourceData(name, text.encode())


def test_nist_sample_is_detected_without_configuration(excavator_sample: Path) -> None:
    batch = WorkOrderConnector().read(SourceData(str(excavator_sample), excavator_sample.read_bytes()))
    columns = batch.columns
    assert (columns.id, columns.text, columns.asset, columns.date, columns.order_type) == (
        None,
        ("OriginalShorttext",),
        "Asset",
        "BscStartDate",
        "PMType",
    )
    documents = batch.documents
    assert len(documents) == 40
    assert batch.skipped_rows == ()
    first = documents[0]
    assert first.kind == "work_order"
    assert first.key == "row-1"
    assert first.title == "Work order (row 1) · asset A · 2004-07-01"
    assert first.text == "BUCKET WON'T OPEN"
    assert first.sections[0].heading == ""  # a work order is cited as a whole
    assert first.metadata["asset"] == "A"
    assert first.metadata["date"] == "2004-07-01"
    assert first.metadata["order_type"] == "PM01"
    assert first.metadata["Cost"] == "183.05"
    # "NA" is R's missing value: such columns are left out rather than stored as the text "NA".
    assert "Comments" not in first.metadata
    assert {document.metadata["asset"] for document in documents} == {"A", "B", "C", "D", "E"}


def test_sample_matches_the_csv_module_row_for_row(excavator_sample: Path) -> None:
    with excavator_sample.open(encoding="utf-8", newline="") as handle:
        expected = [row["OriginalShorttext"] for row in csv.DictReader(handle)]
    documents = list(WorkOrderConnector().load(SourceData("sample.csv", excavator_sample.read_bytes())))
    assert [document.text for document in documents] == expected


@pytest.mark.skipif(not FULL_EXCAVATOR_FILE.exists(), reason="shared NIST dataset not on this machine")
def test_full_nist_excavator_file_loads() -> None:
    documents = list(WorkOrderConnector().load(SourceData.from_path(FULL_EXCAVATOR_FILE, 50_000_000)))
    assert len(documents) == 5485
    assert len({document.key for document in documents}) == 5485
    assert {document.metadata["asset"] for document in documents} == {"A", "B", "C", "D", "E"}


def test_column_mapping_override_with_semicolons_and_labels() -> None:
    export = "Ticket;Equip;Fault;Fix;Opened\nT-1;EX-9;Boom drifts down;Replaced seal kit;2021-04-02\n"
    columns = WorkOrderColumns(id="ticket", text=["Fault", "Fix"], asset="Equip", date="Opened")
    (document,) = WorkOrderConnector(columns).load(source("orders.csv", export))
    assert document.key == "T-1"
    assert document.title == "Work order T-1 · asset EX-9 · 2021-04-02"
    assert document.text == "Fault: Boom drifts down\nFix: Replaced seal kit"
    assert dict(document.metadata) == {"asset": "EX-9", "date": "2021-04-02"}


def test_override_naming_a_missing_column_lists_the_columns() -> None:
    with pytest.raises(ConnectorError, match="'Problem'") as caught:
        list(WorkOrderConnector(WorkOrderColumns(text="Symptom")).load(source("o.csv", "id,Problem\n1,x\n")))
    assert "Symptom" in caught.value.reason


def test_no_text_column_says_how_to_configure_the_mapping() -> None:
    with pytest.raises(ConnectorError) as caught:
        list(WorkOrderConnector().load(source("costs.csv", "order_id,cost,hours\n1,10,2\n")))
    reason = caught.value.reason
    assert "'order_id', 'cost', 'hours'" in reason
    assert "WorkOrderColumns(text=" in reason


def test_narrative_part_columns_are_the_text_when_there_is_no_description() -> None:
    export = "wo,problem,cause,action\n5,noisy pump,worn bearing,replaced bearing\n"
    (document,) = WorkOrderConnector().load(source("parts.csv", export))
    assert document.key == "5"
    assert document.text == "problem: noisy pump\ncause: worn bearing\naction: replaced bearing"


def test_rows_without_text_are_skipped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    export = "id,description\n1,Leak at pump\n2,\n3,NA\n4,Bent stick\n"
    batch = WorkOrderConnector().read(source("gaps.csv", export))
    assert [document.key for document in batch.documents] == ["1", "4"]
    assert batch.skipped_rows == (2, 3)
    with caplog.at_level(logging.WARNING, logger="connectors.worklogs"):
        assert len(list(WorkOrderConnector().load(source("gaps.csv", export)))) == 2
    assert "skipped 2 work-order rows" in caplog.text


def test_repeated_ids_still_give_unique_keys() -> None:
    export = "wo_id,description\n9,first operation\n9,second operation\n"
    keys = [document.key for document in WorkOrderConnector().load(source("ops.csv", export))]
    assert keys == ["9", "9#row-2"]


def test_header_only_csv_is_empty() -> None:
    with pytest.raises(EmptyFileError, match="no work-order rows"):
        list(WorkOrderConnector().load(source("header.csv", "id,description\n")))


def test_binary_junk_named_csv_is_corrupt() -> None:
    junk = SourceData("export.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)))
    with pytest.raises(CorruptFileError, match="binary data, not text") as caught:
        list(WorkOrderConnector().load(junk))
    assert caught.value.source == "export.csv"


def test_latin1_csv_is_refused_with_the_offset() -> None:
    data = "id,description\n1,Überdruck\n".encode("latin-1")
    with pytest.raises(CorruptFileError, match=f"offset {data.index(0xDC)}"):
        list(WorkOrderConnector().load(SourceData("latin.csv", data)))


def test_json_list_and_wrapped_records_load_alike() -> None:
    records = [{"id": 1, "description": "Leak", "asset": "EX-1", "cost": 12.5, "tags": ["hyd"]}]
    plain = list(WorkOrderConnector().load(source("a.json", json.dumps(records))))
    wrapped = list(WorkOrderConnector().load(source("a.json", json.dumps({"work_orders": records}))))
    assert plain == wrapped
    assert plain[0].key == "1"
    assert plain[0].metadata == {"asset": "EX-1", "cost": "12.5", "tags": '["hyd"]'}


def test_json_of_the_wrong_shape_is_corrupt() -> None:
    with pytest.raises(CorruptFileError, match="expected a JSON list"):
        list(WorkOrderConnector().load(source("a.json", '{"id": 1}')))
    with pytest.raises(CorruptFileError, match="line 1 column 2"):
        list(WorkOrderConnector().load(source("a.json", "[oops]")))


def test_jsonl_loads_one_order_per_line() -> None:
    lines = '{"wo": "A1", "symptom": "overheats"}\n\n{"wo": "A2", "symptom": "smokes"}\n'
    documents = list(WorkOrderConnector().load(source("orders.jsonl", lines)))
    assert [(document.key, document.text) for document in documents] == [
        ("A1", "overheats"),
        ("A2", "smokes"),
    ]


def test_jsonl_bad_line_is_named() -> None:
    lines = '{"wo": "A1", "symptom": "overheats"}\n{"wo": "A2", "symptom": \n'
    with pytest.raises(CorruptFileError, match="line 2 is not valid JSON") as caught:
        list(WorkOrderConnector().load(source("orders.jsonl", lines)))
    assert "orders.jsonl" in str(caught.value)


def test_jsonl_line_that_is_not_an_object_is_named() -> None:
    with pytest.raises(CorruptFileError, match="line 2 is not a JSON object"):
        list(WorkOrderConnector().load(source("orders.jsonl", '{"text": "a"}\n[1, 2]\n')))


def test_text_given_as_a_single_string_means_one_column() -> None:
    assert WorkOrderColumns(text="Fault").text == ("Fault",)
