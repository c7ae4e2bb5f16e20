"""Pairs are mined at a site from its own docstore and written into that site's own folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, SQLiteDocStore
from indexes.site_store import DOCSTORE_FILE_NAME
from rag_fed.errors import TrainingError, UnknownSiteError
from rag_fed.training.pairs import PairMiningSettings, load_pairs
from rag_fed.training.site_pairs import mine_site_pairs

pytestmark = pytest.mark.unit

SECTIONS = {
    "Bleeding the pump": "Close the suction valve, open the bleed screw and run until oil flows without air.",
    "Changing the seal": "Drain the casing, remove the gland follower and fit the new packing rings in turn.",
    "Belt tension": "Measure the deflection at mid-span; adjust the take-up until it is 2 percent of the span.",
    "Bearing noise": "Check grease level, then vibration; replace the bearing if the envelope value exceeds 8 g.",
}


def make_site(data_dir: Path, site_id: str) -> Path:
    root = data_dir / site_id
    (root / "store").mkdir(parents=True)
    (root / "site.json").write_text(json.dumps({"site_id": site_id}))
    store = SQLiteDocStore(root / "store" / DOCSTORE_FILE_NAME, dim=4)
    with store.transaction() as txn:
        chunks = [
            ChunkDraft(text=text, ordinal=i, section=f"Pump > {heading}")
            for i, (heading, text) in enumerate(SECTIONS.items())
        ]
        txn.put_document(
            DocumentEntry("manuals/pump.md", "manuals", "HP-200 manual", "manual", "h1", "s1"),
            chunks,
            np.ones((len(chunks), 4), dtype=np.float32),
        )
        txn.put_document(
            DocumentEntry(
                "logs/wo.csv/WO-1",
                "logs",
                "Work order WO-1",
                "work_order",
                "h2",
                "s2",
                {"symptom": "Pump P4 cavitating"},
            ),
            [ChunkDraft(text="Opened the suction strainer, removed debris, pump P4 runs quietly again.", ordinal=0)],
            np.ones((1, 4), dtype=np.float32),
        )
    store.close()
    return root


def test_pairs_are_mined_from_the_sites_docstore_into_its_own_folder(tmp_path: Path) -> None:
    root = make_site(tmp_path / "data", "plant-a")
    mined = mine_site_pairs(tmp_path / "data", "plant-a", PairMiningSettings(val_fraction=0.2, seed=1))
    assert mined.path == root / "training" / "pairs.jsonl"
    split = load_pairs(mined.path)
    assert (mined.train, mined.val) == (len(split.train), len(split.val)) == (4, 1)
    queries = {pair.query for pair in split.train + split.val}
    assert queries == {*SECTIONS, "Pump P4 cavitating"}


def test_mining_refuses_unknown_sites_and_sites_without_documents(tmp_path: Path) -> None:
    with pytest.raises(UnknownSiteError):
        mine_site_pairs(tmp_path, "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "site.json").write_text("{}")
    with pytest.raises(TrainingError, match="ingest"):
        mine_site_pairs(tmp_path, "empty")
