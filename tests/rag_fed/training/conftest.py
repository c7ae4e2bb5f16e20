"""Helpers for building Flower messages outside a running simulation, tiny synthetic pair sets, and a
model fixture restored after each test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flwr.app import Message, Metadata, RecordDict

from rag_fed.training.pairs import PairSplit, TrainingPair, save_pairs


def instruction(content: RecordDict, message_type: str = "train", node_id: int = 1) -> Message:
    """A message as a ClientApp receives it (metadata set by the link, as Flower does from its protos)."""
    metadata = Metadata(
        run_id=1,
        message_id=f"msg-{node_id}",
        src_node_id=0,
        dst_node_id=node_id,
        reply_to_message_id="",
        group_id="1",
        created_at=time.time(),
        ttl=3600.0,
        message_type=message_type,
    )
    return Message(metadata=metadata, content=content)  # type: ignore[call-overload]


_PARTS = ["hydraulic pump", "swing motor", "air compressor", "conveyor belt", "cooling fan", "boom cylinder"]
_FAULTS = [
    "leaking oil",
    "overheating",
    "making grinding noise",
    "tripping the breaker",
    "vibrating",
    "not starting",
]
_FIXES = [
    "replaced the shaft seal and refilled with ISO 46 oil",
    "cleaned the cooler fins and replaced the thermostat",
    "replaced the worn bearings and realigned the coupling",
    "reset the overload relay and tightened the terminal lugs",
    "balanced the rotor and renewed the rubber mounts",
    "replaced the starter contactor and tested the interlock",
]


def synthetic_pairs(site_offset: int, count: int) -> PairSplit:
    """Maintenance-flavoured (symptom -> work order) pairs; distinct per site through ``site_offset``."""
    pairs = []
    for i in range(count):
        part = _PARTS[(i + site_offset) % len(_PARTS)]
        fault = _FAULTS[(i // len(_PARTS)) % len(_FAULTS)]
        fix = _FIXES[(i + 2 * site_offset) % len(_FIXES)]
        unit = f"unit {site_offset}-{i}"
        pairs.append(TrainingPair(f"{part} {fault} on {unit}", f"Work order for {unit}: {part} {fault}; {fix}."))
    n_val = max(2, count // 5)
    return PairSplit(train=tuple(pairs[n_val:]), val=tuple(pairs[:n_val]))


@pytest.fixture()
def site_pair_files(tmp_path: Path) -> dict[str, Path]:
    return {
        site: save_pairs(tmp_path / "pairs" / f"{site}.jsonl", synthetic_pairs(offset, 40))
        for offset, site in enumerate(["plant-a", "plant-b"])
    }


@pytest.fixture()
def fresh(model: Any) -> Iterator[Any]:
    """The module's ``model`` fixture, with its weights put back after the test (training changes them)."""
    from rag_fed.training.model import get_weights, set_weights

    initial = get_weights(model)
    yield model
    set_weights(model, initial)
