"""Which columns of a work-order export hold the id, text, asset, date and order type.

CMMS exports name the same field a dozen ways ("WO Number", "wo_id", "Order"), so each role is
looked up, case- and punctuation-insensitively, in a list of names seen in real exports, unless the
site admin names the column outright in ``WorkOrderColumns``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connectors.errors import ConnectorError

__all__ = ["ResolvedColumns", "WorkOrderColumns", "resolve_columns"]

_ID_NAMES = (
    "wo_id", "work_order_id", "work_order", "work_order_number", "work_order_no", "wo_number", "wo_no",
    "wo_num", "order_id", "order_number", "order_no", "order", "wo", "notification_id", "notification",
    "notification_number", "record_id", "id",
)  # fmt: skip
# Columns that carry the whole narrative of a work order. When a file has one, it is the text.
_DESCRIPTION_NAMES = (
    "description", "desc", "short_text", "shorttext", "original_short_text", "originalshorttext",
    "short_description", "long_text", "long_description", "work_description", "wo_description",
    "problem_description", "fault_description", "text",
)  # fmt: skip
# Columns that carry one part of the narrative. They are the text only in files without a description
# column: where both exist, these are often coded labels (NIST's excavator data has Action="Replace",
# Comments="Positional Term") and would drown the description. They still land in the metadata.
_NARRATIVE_PART_NAMES = (
    "problem", "symptom", "complaint", "fault", "failure", "cause", "action", "action_taken",
    "corrective_action", "resolution", "remedy", "comments", "comment", "remarks", "notes",
)  # fmt: skip
_ASSET_NAMES = (
    "asset", "asset_id", "asset_number", "asset_no", "asset_name", "equipment", "equipment_id",
    "equipment_number", "equipment_no", "machine", "machine_id", "unit", "unit_id", "funclocation",
    "functional_location", "floc",
)  # fmt: skip
_DATE_NAMES = (
    "date", "bscstartdate", "basic_start_date", "start_date", "reported", "reported_date", "report_date",
    "date_reported", "created", "created_date", "create_date", "creation_date", "opened", "open_date",
    "wo_date", "order_date", "request_date", "completed", "completion_date", "finish_date", "end_date",
)  # fmt: skip
_ORDER_TYPE_NAMES = (
    "order_type", "pmtype", "pm_type", "type", "wo_type", "work_order_type", "maintenance_type",
    "job_type", "activity_type",
)  # fmt: skip


@dataclass(frozen=True)
class WorkOrderColumns:
    """The column names of a work-order export, as the site admin sets them.

    ``None`` (the default) means "detect from common names"; ``""`` means "the file has no such
    column, do not guess". ``text`` lists the columns whose values make the searchable text.
    """

    id: str | None = None
    text: Sequence[str] | None = None
    asset: str | None = None
    date: str | None = None
    order_type: str | None = None

    def __post_init__(self) -> None:
        # A lone string is a Sequence[str] too; read text="Description" as one column, not 11 letters.
        if isinstance(self.text, str):
            object.__setattr__(self, "text", (self.text,))
        elif self.text is not None:
            object.__setattr__(self, "text", tuple(self.text))


@dataclass(frozen=True)
class ResolvedColumns:
    """The header names actually used for one file (``None``: the file has no such column)."""

    text: tuple[str, ...]
    id: str | None = None
    asset: str | None = None
    date: str | None = None
    order_type: str | None = None


def resolve_columns(source: str, present: Sequence[str], wanted: WorkOrderColumns) -> ResolvedColumns:
    """Match the wanted roles to the file's header names; raise ``ConnectorError`` naming what is missing."""
    by_key: dict[str, str] = {}
    for name in present:
        by_key.setdefault(_key(name), name)
    return ResolvedColumns(
        text=_resolve_text(source, present, by_key, wanted.text),
        id=_resolve_one(source, present, by_key, "id", wanted.id, _ID_NAMES),
        asset=_resolve_one(source, present, by_key, "asset", wanted.asset, _ASSET_NAMES),
        date=_resolve_one(source, present, by_key, "date", wanted.date, _DATE_NAMES),
        order_type=_resolve_one(source, present, by_key, "order_type", wanted.order_type, _ORDER_TYPE_NAMES),
    )


def _resolve_text(
    source: str, present: Sequence[str], by_key: Mapping[str, str], wanted: Sequence[str] | None
) -> tuple[str, ...]:
    if wanted is not None:
        return tuple(_require(source, present, by_key, "text", name) for name in wanted)
    for names in (_DESCRIPTION_NAMES, _NARRATIVE_PART_NAMES):
        keys = {_key(name) for name in names}
        found = tuple(name for name in present if _key(name) in keys)
        if found:
            return tuple(dict.fromkeys(found))
    raise ConnectorError(
        source,
        f"no work-order text column found among the columns present ({_listing(present)}); "
        "name the column(s) holding the description, e.g. WorkOrderColumns(text=['Your column'])",
    )


def _resolve_one(
    source: str,
    present: Sequence[str],
    by_key: Mapping[str, str],
    role: str,
    wanted: str | None,
    candidates: Sequence[str],
) -> str | None:
    if wanted == "":
        return None
    if wanted is not None:
        return _require(source, present, by_key, role, wanted)
    for candidate in candidates:
        if (found := by_key.get(_key(candidate))) is not None:
            return found
    return None


def _require(source: str, present: Sequence[str], by_key: Mapping[str, str], role: str, name: str) -> str:
    found = by_key.get(_key(name))
    if found is None:
        raise ConnectorError(
            source,
            f"the {role} column {name!r} is not in the file; columns present: {_listing(present)}; "
            f"fix WorkOrderColumns({role}=...) or leave it unset to detect it",
        )
    return found


def _key(name: str) -> str:
    """Compare header names ignoring case, spaces and punctuation: "WO Number" == "wo_number"."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _listing(present: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in present) or "none"
