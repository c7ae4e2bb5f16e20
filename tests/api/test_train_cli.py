"""``ragfed train`` and ``ragfed federation remove-site`` end to end, at a size CI can afford.

Three real sites (sample manuals and work-order logs ingested with the packaged embedder) are
registered at a gateway home; ``train`` mines pairs at each site, runs one round in Flower's
simulation engine and registers a new embedder version; ``remove-site`` unregisters one site,
replays the round without it and shows the ledger that proves its update is gone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rag_fed.cli import federation_commands, train_commands
from rag_fed.config import Settings, get_settings
from rag_fed.embedders import load_embedder
from rag_fed.federation import SiteRegistry
from rag_fed.federation.models import ModelRegistry
from rag_fed.site import Site, SiteLayout
from rag_fed.training.ledger import Ledger

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "rag_fed" / "samples" / "federation"
SITE_FILES = {
    "plant-north": ["manuals/cv3-belt-conveyor-om.md", "manuals/sp150-slurry-pump.txt"],
    "plant-south": ["manuals/hx550-engines-and-starting.md", "manuals/fleet-lubrication-schedule.txt"],
    "plant-east": ["manuals/motors-and-vfds.md", "manuals/compressed-air-checklists.txt"],
}
TINY = {
    "RAGFED_TRAINING__MAX_SEQ_LENGTH": "32",
    "RAGFED_TRAINING__TRAIN_TOP_LAYERS": "1",
    "RAGFED_TRAINING__BATCH_SIZE": "8",
    "RAGFED_TRAINING__PAIRS__MAX_PAIRS": "40",
    "COLUMNS": "200",  # rich wraps table cells to the terminal width
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[typer.Typer, Path, Path]]:
    root = tmp_path_factory.mktemp("train-cli")
    data_dir, home = root / "data", root / "gateway"
    settings = Settings(data_dir=data_dir)
    embedder = load_embedder(settings.embedder)
    registry = SiteRegistry(home / "registry.db")
    for port, (site_id, files) in enumerate(SITE_FILES.items(), start=9101):
        layout = Site.init(site_id, settings)
        with Site.open(site_id, settings, embedder=embedder) as site:
            site.ingest([SAMPLES / site_id / name for name in files])
        public_key = (layout.keys_dir / "public.key").read_text().strip()
        registry.register(site_id, f"http://127.0.0.1:{port}", public_key)
    patch = pytest.MonkeyPatch()
    patch.setenv("RAGFED_DATA_DIR", str(data_dir))
    for key, value in TINY.items():
        patch.setenv(key, value)
    get_settings.cache_clear()
    app = typer.Typer()
    federation_commands.register(app)
    train_commands.register(app)
    yield app, data_dir, home
    patch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def trained(world: tuple[typer.Typer, Path, Path]) -> tuple[str, Path]:
    app, _, home = world
    result = CliRunner().invoke(app, ["train", "--rounds", "1", "--home", str(home)])
    assert result.exit_code == 0, result.output
    [run_dir] = [path.parent for path in (home / "training").glob("*/ledger.json")]
    return result.output, run_dir


def test_train_mines_at_each_site_and_registers_a_version(
    world: tuple[typer.Typer, Path, Path], trained: tuple[str, Path]
) -> None:
    _, data_dir, home = world
    output, run_dir = trained
    for site_id in SITE_FILES:
        # Each site's pairs were written into that site's own folder, nowhere else.
        pairs = SiteLayout.for_site(data_dir, site_id).root / "training" / "pairs.jsonl"
        assert pairs.is_file() and pairs.read_text().count("\n") >= 5
    assert not list(run_dir.rglob("*.jsonl"))
    [record] = Ledger.open(run_dir).rounds
    assert record.sites == sorted(SITE_FILES) and record.aggregated
    assert "round 1" in output and "val MRR@10" in output
    [entry] = [e for e in ModelRegistry(home / "models").entries() if e.source.startswith("federated training")]
    assert f"ragfed model rollout {entry.version}" in output
    assert (Path(entry.path) / "modules.json").is_file()


def test_remove_site_unregisters_replays_without_it_and_shows_the_proof(
    world: tuple[typer.Typer, Path, Path], trained: tuple[str, Path]
) -> None:
    app, _, home = world
    _, source_run = trained
    result = CliRunner().invoke(app, ["federation", "remove-site", "plant-east", "--no-rollout", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "plant-east" not in [site.site_id for site in SiteRegistry(home / "registry.db").list()]
    new_run = source_run.with_name(f"{source_run.name}-without-plant-east")
    proof = json.loads((new_run / "unlearning.json").read_text())
    assert proof["source_rounds_with_site"] == [1] and proof["rolled_back_to_round"] == 0
    assert proof["rounds_with_site_now"] == []
    assert [r.sites for r in Ledger.open(new_run).rounds] == [["plant-north", "plant-south"]]
    assert "plant-east appears in rounds: none" in result.output
    versions = [e for e in ModelRegistry(home / "models").entries() if e.source.startswith("unlearning plant-east")]
    assert len(versions) == 1 and versions[0].version in result.output
    # The source run is left as it was: unlearning writes a new run.
    assert Ledger.open(source_run).rounds_with("plant-east") == [1]


def test_train_refuses_unsound_combinations_before_mining(world: tuple[typer.Typer, Path, Path]) -> None:
    app, _, home = world
    for flags, reason in [
        (["--secagg", "--strategy", "krum"], "needs each site's own update"),
        (["--dp", "--adaptive"], "adaptive uploads leak"),
        (["--secagg", "--adaptive"], "cannot be combined with secure aggregation"),
        (["--dp-mode", "dp_sgd"], "needs training.loss = 'per_example'"),
        (["--dp-mode", "dp_sgd", "--strategy", "fedprox"], "needs training.loss = 'per_example'"),
        (["--dp-mode", "none", "--clip", "0.5"], "DP options were given with --dp-mode none"),
    ]:
        result = CliRunner().invoke(app, ["train", *flags, "--home", str(home)])
        assert result.exit_code == 1 and reason in result.output, result.output
