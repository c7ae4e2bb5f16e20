"""``ragfed federation remove-site``: remove a site and unlearn it.

It unregisters the site, replays the last training run it took part in without it (rolled back to the
checkpoint before its first round), registers and rolls out the new embedder version, and prints the
ledger that proves the site's updates are gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag_fed.cli.common import console
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings
from rag_fed.cli.training_common import quiet_flower, send_rollout
from rag_fed.coordinator.controls import register_model
from rag_fed.coordinator.runs import runs, runs_dir
from rag_fed.errors import TrainingError, UnknownSiteError

if TYPE_CHECKING:  # the rest is imported by the command itself: `ragfed --help` must not load it
    from rag_fed.training.ledger import Ledger

__all__ = ["remove_site"]


def remove_site(
    site_id: Annotated[str, typer.Argument(help="The site to remove and unlearn.")],
    run: Annotated[
        Path | None, typer.Option("--run", help="The run to unlearn from (default: the newest run with the site).")
    ] = None,
    min_sites: Annotated[int | None, typer.Option("--min-sites", min=1, help="Sites a replayed round needs.")] = None,
    rollout: Annotated[bool, typer.Option("--rollout/--no-rollout", help="Re-embed the remaining sites.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Flower's own log.")] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Remove a site and unlearn it: roll the embedder back before its first round and replay the rest without it."""
    from rag_fed.config import get_settings
    from rag_fed.federation import SiteRegistry
    from rag_fed.training.ledger import Ledger
    from rag_fed.training.unlearning import remove_site as unlearn

    settings = get_settings()
    gateway = gateway_settings(config, home)
    registry = SiteRegistry(gateway.registry_path)
    folder = runs_dir(settings.training, gateway)
    with_site = [run_dir for run_dir in runs(folder) if Ledger.open(run_dir).rounds_with(site_id)]
    source = run or (with_site[-1] if with_site else None)
    try:
        registry.remove(site_id)
        console.print(f"unregistered {site_id}: it is no longer queried and its replies are refused")
    except UnknownSiteError:
        if source is None:
            raise  # neither registered nor in any run: a typo, not a finished removal
        console.print(f"{site_id} was not registered (removed before); unlearning its training rounds")
    if source is None:
        console.print(f"no training run under {folder} used {site_id}'s data: nothing to unlearn")
        return
    console.print(f"unlearning {site_id} from run {source} (rounds {Ledger.open(source).rounds_with(site_id)})")
    quiet_flower(verbose)
    if min_sites is None:
        # The run asked for every site it had; the replay asks for every site that remains.
        manifest = Ledger.open(source).manifest
        remaining = len([s for s in manifest.site_pair_paths if s != site_id])
        min_sites = max(1, min(int(manifest.config.get("min_sites", 2)), remaining))
    with console.status(f"replaying the rounds without {site_id}"):
        result = unlearn(source, site_id, min_sites=min_sites)
    if result.model_dir is None:
        raise TrainingError("unlearning produced no model folder")
    version = register_model(gateway, result.model_dir, f"unlearning {site_id} from {source.name}", "")
    console.print(_proof_table(Ledger.open(result.run_dir), site_id, result.rolled_back_to))
    others = [str(run_dir) for run_dir in with_site if run_dir != source]
    if others:
        console.print(f"older runs that also used {site_id} (their models are superseded): {', '.join(others)}")
    console.print(f"proof: {result.run_dir / 'unlearning.json'}; new embedder version [bold]{escape(version)}[/]")
    if rollout:
        send_rollout(gateway, version)
    else:
        console.print(f"roll it out with [bold]ragfed model rollout {escape(version)}[/]")


def _proof_table(ledger: Ledger, site_id: str, rolled_back_to: int) -> Table:
    table = Table("round", "sites whose updates are in it", "how", "checkpoint sha256", title="ledger after unlearning")
    for record in ledger.rounds:
        how = "kept (before the site joined)" if record.round <= rolled_back_to else "replayed without it"
        table.add_row(str(record.round), ", ".join(record.sites), how, record.checkpoint_sha256[:16])
    still = [record.round for record in ledger.rounds if site_id in record.sites]
    table.caption = f"{site_id} appears in rounds: {still or 'none'}"
    return table
