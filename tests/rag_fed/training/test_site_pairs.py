"""Pairs are mined at a site from its own docstore and written into that site's own folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexes import ChunkDraft, DocumentEntry, SQLiteDocStore
from indexes.site_store import DOCSTORE_FILE_NAME
from rag_fed.config import PairMiningSettings
from rag_fed.errors import TrainingError, UnknownSiteError
from rag_fed.feedback.log import FEEDBACK_FILE, FeedbackLog, NewJudgement
from rag_fed.training.pairs import load_pairs
from rag_fed.training.site_pairs import mine_site_pairs

pytestmark = pytest.mark.unit

SECTIONS = {
    "Bleeding the pump": "Close the suction valve, open the bleed screw and run until oil flows without air.",
    "Changing the seal": "Drain the casing, remove the gland follower and fit the new packing rings in turn.",
    "Belt tension": "Measure the deflection at mid-span; adjust the take-up until it is 2 percent of the span.",
    "Bearing noise": "Check grease level, then vibration; replace the bearing if the envelope value exceeds 8 g.",
}


def make_site(
    data_dir: Path, site_id: str, manual_vectors: np.ndarray | None = None, order_vector: np.ndarray | None = None
) -> Path:
    """A site with a pump manual of four sections and one work order (vectors all ones unless given)."""
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
            np.ones((len(chunks), 4), dtype=np.float32) if manual_vectors is None else manual_vectors,
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
            np.ones((1, 4), dtype=np.float32) if order_vector is None else order_vector,
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


class FixedEmbedder:
    """Every question embeds to the same vector: the site then ranks its chunks by their vectors alone."""

    dim = 4
    model_version = "fixed@1"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vector = np.array([0.1, 0.2, 0.3, 0.9], dtype=np.float32)
        return np.tile(vector / np.linalg.norm(vector), (len(texts), 1))


def ranked_site(data_dir: Path, site_id: str) -> Path:
    """A site whose chunk vectors rank Bearing noise > Belt tension > Changing the seal > Bleeding > WO-1."""
    return make_site(data_dir, site_id, np.eye(4, dtype=np.float32), np.array([[0.5, 0.0, 0.0, 0.0]], np.float32))


def log_judgements(root: Path, *rows: tuple[str, str, str, bool]) -> None:
    FeedbackLog.at_site(root).record_many(
        [NewJudgement(f"r{i}", q, doc, anchor, useful, "fixed@1") for i, (q, doc, anchor, useful) in enumerate(rows)]
    )


FEEDBACK = (
    ("How do I bleed the pump?", "manuals/pump.md", "Bleeding the pump", True),
    ("How do I bleed the pump?", "manuals/pump.md", "Belt tension", False),
    ("what tension for the belt", "manuals/pump.md", "Belt tension", True),
    ("pump P4 noisy after cleaning", "logs/wo.csv/WO-1", "", True),
    ("seal replacement steps", "manuals/pump.md", "Changing the seal", True),
    ("an old question", "manuals/deleted.pdf", "p3", True),
)


def test_a_site_with_feedback_trains_on_it_with_hard_negatives_from_its_own_ranking(tmp_path: Path) -> None:
    root = ranked_site(tmp_path, "plant-a")
    log_judgements(root, *FEEDBACK)
    mined = mine_site_pairs(
        tmp_path, "plant-a", PairMiningSettings(val_fraction=0.25, hard_negatives=2), embedder=FixedEmbedder()
    )
    assert mined.source == "feedback"
    assert mined.feedback is not None and mined.feedback.vanished_documents == 1 and mined.feedback.questions == 4
    split = load_pairs(mined.path)
    pairs = {pair.query: pair for pair in split.train + split.val}
    assert set(pairs) == {
        "How do I bleed the pump?",
        "what tension for the belt",
        "pump P4 noisy after cleaning",
        "seal replacement steps",
    }
    bleed = pairs["How do I bleed the pump?"]
    assert bleed.positive == SECTIONS["Bleeding the pump"]
    # Judged not useful first, then the site's best ranked: Bearing noise.
    assert bleed.negatives == (SECTIONS["Belt tension"], SECTIONS["Bearing noise"])
    assert all(len(pair.negatives) == 2 for pair in pairs.values())


def test_the_pair_source_setting_picks_feedback_documents_or_both(tmp_path: Path) -> None:
    root = ranked_site(tmp_path, "plant-a")
    log_judgements(root, *FEEDBACK)
    embedder = FixedEmbedder()

    def queries(source: str) -> set[str]:
        mined = mine_site_pairs(tmp_path, "plant-a", PairMiningSettings(source=source), embedder=embedder)  # type: ignore[arg-type]
        split = load_pairs(mined.path)
        return {pair.query for pair in split.train + split.val}

    documents = queries("documents")
    feedback = queries("feedback")
    assert "Bleeding the pump" in documents and "How do I bleed the pump?" not in documents
    assert "How do I bleed the pump?" in feedback and "Bleeding the pump" not in feedback
    assert queries("both") == documents | feedback


def test_without_a_feedback_log_auto_mines_documents_and_feedback_refuses(tmp_path: Path) -> None:
    root = make_site(tmp_path, "plant-a")
    mined = mine_site_pairs(tmp_path, "plant-a", PairMiningSettings(source="auto"), embedder=FixedEmbedder())
    assert mined.source == "documents" and mined.feedback is None
    assert not (root / FEEDBACK_FILE).exists()  # reading for training creates no log
    with pytest.raises(TrainingError, match="feedback pairs"):
        mine_site_pairs(tmp_path, "plant-a", PairMiningSettings(source="feedback"), embedder=FixedEmbedder())
