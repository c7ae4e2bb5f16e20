"""A real site's feedback becomes pairs ranked by the embedder its store was built with (packaged MiniLM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag_fed.config import PairMiningSettings, Settings
from rag_fed.errors import TrainingError
from rag_fed.feedback.log import FeedbackLog, NewJudgement
from rag_fed.site import Site
from rag_fed.site.layout import SiteLayout
from rag_fed.training.pairs import load_pairs
from rag_fed.training.site_pairs import mine_site_pairs
from tests.rag_fed.site.fake_embedders import HashEmbedder

pytestmark = pytest.mark.integration

MANUAL = """# HP-200 pump

## Gland packing
The gland must drip 30 to 60 drops per minute; tighten the follower a sixth of a turn at a time.

## Bearing lubrication
Grease the pump bearings every 500 running hours with two shots of lithium grease.

## Gland leakage alarm
A steady stream from the gland means the packing is worn: replace all rings, not only the top one.

## Coupling alignment
Align the coupling to within 0.05 mm with a dial gauge before the first start.
"""


def ingest(settings: Settings, tmp_path: Path, embedder: Any) -> Path:
    Site.init("north", settings)
    (tmp_path / "pump.md").write_text(MANUAL)
    with Site.open("north", settings, embedder=embedder) as site:
        assert not site.ingest([tmp_path / "pump.md"]).failed
    root = SiteLayout.for_site(settings.data_dir, "north").root
    FeedbackLog.at_site(root).record_many(
        [
            NewJudgement("r1", "how many drops should the gland leak", "pump.md", "Gland packing", True, "v"),
            NewJudgement("r2", "grease interval for the bearings", "pump.md", "Bearing lubrication", True, "v"),
            NewJudgement("r3", "coupling alignment tolerance", "pump.md", "Coupling alignment", True, "v"),
            NewJudgement("r4", "what does a gland leakage alarm mean", "pump.md", "", True, "v"),
        ]
    )
    return root


def test_the_site_ranks_with_the_model_its_store_was_built_with(
    settings: Settings, tmp_path: Path, packaged_embedder: Any
) -> None:
    ingest(settings, tmp_path, packaged_embedder)
    mined = mine_site_pairs(settings.data_dir, "north", PairMiningSettings(hard_negatives=1, val_fraction=0.25))
    assert mined.source == "feedback" and mined.feedback is not None and mined.feedback.questions == 4
    split = load_pairs(mined.path)
    pairs = {pair.query: pair for pair in split.train + split.val}
    # The whole-document judgement takes the section MiniLM ranks first for the question...
    assert pairs["what does a gland leakage alarm mean"].positive.startswith("A steady stream")
    # A heading anchor takes its own section, and the closest other section is its hard negative.
    assert pairs["how many drops should the gland leak"].positive.startswith("The gland must drip")
    assert pairs["how many drops should the gland leak"].negatives[0].startswith("A steady stream")


def test_a_store_whose_vectors_another_model_made_is_refused(settings: Settings, tmp_path: Path) -> None:
    ingest(settings, tmp_path, HashEmbedder("hash@1"))  # the store records "packaged" at version hash@1
    with pytest.raises(TrainingError, match="re-embed"):
        mine_site_pairs(settings.data_dir, "north", PairMiningSettings(source="feedback"))
