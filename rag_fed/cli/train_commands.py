"""Operator commands for federated fine-tuning: ``ragfed train`` and ``ragfed mine-pairs``.

``train`` mines pairs at every registered site whose folder is on this machine (each into its own
folder), runs the rounds in Flower's simulation engine, prints each round's metrics as it ends, and
registers the result as a new embedder version at the gateway. Across machines the same rounds run
on Flower's deployment engine instead (docs/training.md). ``ragfed federation remove-site``
(unlearning) is registered here too, from ``rag_fed/cli/unlearning_commands.py``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rag_fed.cli.common import console, reports_errors
from rag_fed.cli.gateway_home import ConfigOption, HomeOption, gateway_settings
from rag_fed.cli.training_common import quiet_flower
from rag_fed.coordinator.controls import register_model
from rag_fed.coordinator.runs import runs_dir
from rag_fed.errors import InputError

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `ragfed --help` must not load it
    from rag_fed.config import PrivacySettings, Settings, TrainingSettings
    from rag_fed.coordinator.settings import GatewaySettings
    from rag_fed.federation import SiteRegistry
    from rag_fed.training.ledger import RoundRecord
    from rag_fed.training.run import TrainingResult

__all__ = ["register", "train"]

STRATEGIES = ("fedavg", "fedprox", "fedadam", "fedmedian", "trimmed", "krum")


def train(
    rounds: Annotated[
        int | None, typer.Option("--rounds", "-r", min=1, help="Rounds (default: training.rounds).")
    ] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help=" | ".join(STRATEGIES))] = None,
    sites: Annotated[
        str | None, typer.Option("--sites", help="Comma-separated site ids (default: all registered).")
    ] = None,
    dp: Annotated[
        bool, typer.Option("--dp", help="Differential privacy at each site (training.dp.mode, else local).")
    ] = False,
    dp_mode: Annotated[
        str | None, typer.Option("--dp-mode", help="none | local (clip and noise the update) | dp_sgd (Opacus).")
    ] = None,
    clip: Annotated[
        float | None,
        typer.Option("--clip", help="DP: L2 clipping norm of an update (dp_sgd: of a gradient)."),
    ] = None,
    noise: Annotated[float | None, typer.Option("--noise", help="DP: noise multiplier (std = noise * clip).")] = None,
    delta: Annotated[float | None, typer.Option("--delta", help="DP: delta of the reported epsilon.")] = None,
    target_epsilon: Annotated[
        float | None, typer.Option("--target-epsilon", help="DP: pick the noise so epsilon stays under this.")
    ] = None,
    secagg: Annotated[bool, typer.Option("--secagg", help="Flower's SecAgg+ secure aggregation.")] = False,
    adaptive: Annotated[
        bool, typer.Option("--adaptive", help="Sites upload only when their update carries news.")
    ] = False,
    local_epochs: Annotated[int | None, typer.Option("--local-epochs", min=1)] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Local learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=2)] = None,
    top_layers: Annotated[int | None, typer.Option("--top-layers", min=1, help="Train only the top N layers.")] = None,
    max_pairs: Annotated[
        int | None, typer.Option("--max-pairs", min=2, help="Training pairs per site and round.")
    ] = None,
    min_sites: Annotated[int | None, typer.Option("--min-sites", min=1, help="Sites a round needs.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default: <runs dir>/<run id>).")] = None,
    note: Annotated[str, typer.Option("--note", help="Note stored with the new model version.")] = "",
    superlink: Annotated[
        str | None,
        typer.Option("--superlink", help="Deployment engine: the SuperLink (host:port) the sites' SuperNodes joined."),
    ] = None,
    root_certificates: Annotated[
        Path | None, typer.Option("--root-certificates", help="Deployment engine: CA of the SuperLink's TLS.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Flower's own log.")] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Fine-tune the embedder over the registered sites with Flower.

    Without --superlink every site runs on this machine in Flower's simulation engine; with it the
    rounds run on the SuperNodes that joined that SuperLink (see docs/training.md)."""
    from rag_fed.config import get_settings
    from rag_fed.federation import SiteRegistry
    from rag_fed.training.run import run_federated_training
    from rag_fed.training.site_pairs import mine_site_pairs

    settings = get_settings()
    defaults = settings.training
    gateway = gateway_settings(config, home)
    registry = SiteRegistry(gateway.registry_path)
    chosen = _chosen_sites(registry, sites) if superlink else _local_sites(settings, registry, sites)
    privacy, dp_sgd_target = _privacy(
        defaults, dp, dp_mode, clip, noise, delta, target_epsilon, rounds or defaults.rounds
    )
    training = _training_config(
        defaults,
        rounds=rounds,
        strategy=strategy,
        local_epochs=local_epochs,
        learning_rate=lr,
        batch_size=batch_size,
        train_top_layers=top_layers,
        max_train_pairs=max_pairs,
        min_sites=min_sites if min_sites is not None else len(chosen),
        privacy=privacy,
        secure_aggregation=secagg,
        adaptive_uploads=adaptive,
    )
    _check_combination(training)
    run_dir = out or runs_dir(defaults, gateway) / time.strftime("run-%Y%m%dT%H%M%S")
    if superlink is not None:
        if dp_sgd_target is not None:
            raise InputError(
                "DP-SGD on the deployment engine: give --noise (the sites' pair counts are not known here)"
            )
        _train_on_superlink(training, run_dir, superlink, root_certificates, gateway, note, verbose)
        return
    pair_table = Table("site", "train pairs", "val pairs", "pairs file (stays at the site)")
    paths, counts = {}, []
    for site_id in chosen:
        mined = mine_site_pairs(settings.data_dir, site_id, defaults.pairs)
        paths[site_id] = mined.path
        counts.append(mined.train)
        pair_table.add_row(site_id, str(mined.train), str(mined.val), escape(str(mined.path)))
    console.print(pair_table)
    if dp_sgd_target is not None and training.privacy is not None:
        training = _dp_sgd_noise(training, training.privacy, dp_sgd_target, counts)
    console.print(_describe(training, len(chosen)))
    quiet_flower(verbose)
    started = time.perf_counter()
    with console.status(f"training: round 1 of {training.rounds}") as status:

        def on_round(record: RoundRecord) -> None:
            console.print(_round_table(record, started))
            if record.round < training.rounds:
                status.update(f"training: round {record.round + 1} of {training.rounds}")

        result = run_federated_training(paths, training, run_dir, on_round=on_round)
    _finish(gateway, result, note)


def mine_site_training_pairs(
    site: Annotated[str, typer.Option("--site", "-s", help="Site id (its folder is under the data dir).")],
) -> None:
    """Mine this site's training pairs into its own folder (what a SuperNode trains on)."""
    from rag_fed.config import get_settings
    from rag_fed.training.site_pairs import mine_site_pairs

    settings = get_settings()
    mined = mine_site_pairs(settings.data_dir, site, settings.training.pairs)
    console.print(f"{mined.train} training and {mined.val} validation pairs in {mined.path}")
    console.print("start this site's SuperNode with:")
    typer.echo(
        f"flower-supernode --superlink <coordinator>:<port> --node-config "
        f'\'site-id="{site}" pairs-path="{mined.path.resolve()}"\''
    )


def _train_on_superlink(
    training: TrainingSettings,
    run_dir: Path,
    superlink: str,
    root_certificates: Path | None,
    gateway: GatewaySettings,
    note: str,
    verbose: bool,
) -> None:
    from rag_fed.training.deployment import run_on_superlink

    console.print(_describe(training, training.min_sites) + f", deployment engine at {superlink}")
    quiet_flower(verbose)
    started = time.perf_counter()
    with console.status(f"waiting for {training.min_sites} SuperNodes, then {training.rounds} rounds"):
        result = run_on_superlink(
            training,
            run_dir,
            superlink,
            root_certificates=root_certificates,
            on_round=lambda record: console.print(_round_table(record, started)),
        )
    _finish(gateway, result, note)


def _finish(gateway: GatewaySettings, result: TrainingResult, note: str) -> None:
    version = register_model(gateway, result.model_dir, f"federated training {result.run_dir.name}", note)
    console.print(_evaluation_table(result.evaluation))
    console.print(f"run folder (checkpoints and ledger): {result.run_dir}")
    console.print(f"registered embedder version [bold]{escape(version)}[/]")
    console.print(f"next: roll it out to the sites with [bold]ragfed model rollout {escape(version)}[/]")


# -- helpers -------------------------------------------------------------------------------------


def _chosen_sites(registry: SiteRegistry, wanted: str | None) -> list[str]:
    registered = [site.site_id for site in registry.list()]
    chosen = [part.strip() for part in wanted.split(",") if part.strip()] if wanted else registered
    unknown = [site_id for site_id in chosen if site_id not in registered]
    if unknown:
        raise InputError(f"not registered: {', '.join(unknown)}; register them with `ragfed federation register-site`")
    if len(chosen) < 2:
        raise InputError(f"federated training needs at least 2 sites, found {len(chosen)} ({', '.join(chosen)})")
    return chosen


def _local_sites(settings: Settings, registry: SiteRegistry, wanted: str | None) -> list[str]:
    """The registered sites to train over; every one must have its folder under the data dir."""
    from rag_fed.site.layout import SiteLayout

    chosen = _chosen_sites(registry, wanted)
    remote = [site_id for site_id in chosen if not SiteLayout.for_site(settings.data_dir, site_id).exists()]
    if remote:
        raise InputError(
            f"sites {', '.join(remote)} have no folder under {settings.data_dir}: the simulation engine runs every "
            "site on this machine. Train across machines with Flower's deployment engine (docs/training.md), "
            "or leave them out with --sites"
        )
    return chosen


def _privacy(
    defaults: TrainingSettings,
    dp: bool,
    dp_mode: str | None,
    clip: float | None,
    noise: float | None,
    delta: float | None,
    target_epsilon: float | None,
    rounds: int,
) -> tuple[PrivacySettings | None, float | None]:
    """The run's DP settings, and for DP-SGD the target epsilon still to turn into noise (that needs the
    sites' pair counts). Mode: ``--dp-mode``, else ``training.dp.mode``, which ``--dp`` (or any DP
    option) turns to ``local`` when it is ``none``."""
    from rag_fed.config import PrivacySettings
    from rag_fed.training.privacy import noise_for_epsilon

    settings = defaults.dp
    asked = dp or any(value is not None for value in (clip, noise, delta, target_epsilon))
    mode = dp_mode or (settings.mode if settings.mode != "none" or not asked else "local")
    if mode not in ("none", "local", "dp_sgd"):
        raise InputError(f"unknown --dp-mode {mode!r}; choose none, local or dp_sgd")
    if mode == "none":
        if asked:
            raise InputError("DP options were given with --dp-mode none; drop them or choose local or dp_sgd")
        return None, None
    if noise is not None and target_epsilon is not None:
        raise InputError("give --noise or --target-epsilon, not both")
    clipping = clip if clip is not None else settings.clipping_norm
    wanted_delta = delta if delta is not None else settings.delta
    target = target_epsilon if target_epsilon is not None else settings.target_epsilon if noise is None else None
    multiplier = noise if noise is not None else settings.noise_multiplier
    if mode == "local" and target is not None:
        return noise_for_epsilon(target, rounds, clipping, wanted_delta), None
    chosen = PrivacySettings(
        mode="dp_sgd" if mode == "dp_sgd" else "local",
        clipping_norm=clipping,
        noise_multiplier=multiplier,
        delta=wanted_delta,
    )
    return chosen, target


def _dp_sgd_noise(
    training: TrainingSettings, privacy: PrivacySettings, target: float, counts: list[int]
) -> TrainingSettings:
    """DP-SGD noise for ``target`` epsilon at every site: the largest any site's pair count needs (sampling
    rate and step count both depend on it, so it is not always the smallest site's)."""
    from rag_fed.training.dp_sgd import noise_for_target_epsilon

    multiplier = max(
        noise_for_target_epsilon(target, privacy.delta, n, training.batch_size, training.local_epochs, training.rounds)
        for n in set(counts)
    )
    return training.model_copy(update={"privacy": privacy.model_copy(update={"noise_multiplier": multiplier})})


def _training_config(defaults: TrainingSettings, **overrides: object) -> TrainingSettings:
    """The run's settings: ``[training]`` with the flags that were given (``privacy`` always: it is resolved)."""
    from rag_fed.config import TrainingSettings

    values = defaults.model_dump()
    values.update({key: value for key, value in overrides.items() if value is not None})
    values["privacy"] = overrides["privacy"]
    if values.get("strategy") not in STRATEGIES:
        raise InputError(f"unknown strategy {values.get('strategy')!r}; choose one of {', '.join(STRATEGIES)}")
    try:
        return TrainingSettings.model_validate(values)
    except ValueError as error:
        raise InputError(f"invalid training settings: {error}") from None


def _check_combination(config: TrainingSettings) -> None:
    from rag_fed.training.strategies import strategy_from_config

    strategy_from_config(config)  # TrainingError naming the conflict and the fix


def _describe(config: TrainingSettings, sites: int) -> str:
    parts = [f"{config.strategy}, {config.rounds} rounds, {sites} sites, top {config.train_top_layers} layers"]
    if config.privacy is not None:
        p = config.privacy
        kind = "local DP" if p.mode == "local" else "DP-SGD (Opacus, per-example clip)"
        parts.append(f"{kind} (clip {p.clipping_norm:g}, noise x{p.noise_multiplier:.3g}, delta {p.delta:g})")
    if config.secure_aggregation:
        parts.append("SecAgg+")
    if config.adaptive_uploads:
        parts.append("adaptive uploads")
    return "training: " + ", ".join(parts)


def _round_table(record: RoundRecord, started: float) -> Table:
    table = Table(title=f"round {record.round} ({time.perf_counter() - started:.0f} s so far)", title_justify="left")
    for column in ("site", "status", "train loss", "val MRR@10", "val R@1", "uploaded MB", "epsilon"):
        table.add_column(column)
    for site_id in sorted(set(record.metrics) | set(record.bytes_uploaded)):
        metrics = record.metrics.get(site_id, {})
        status = "aggregated" if site_id in record.sites else "no update" if site_id in record.skipped else "failed"
        epsilon = record.epsilon.get(site_id)
        table.add_row(
            site_id,
            status,
            _number(metrics.get("train-loss")),
            _number(metrics.get("val-mrr@10")),
            _number(metrics.get("val-recall@1")),
            f"{record.bytes_uploaded.get(site_id, 0) / 1e6:.1f}",
            "" if epsilon is None else f"{epsilon:.2f}",
        )
    if record.failed:
        table.caption = "failed: " + "; ".join(record.failed)
    elif record.bytes_saved:
        table.caption = f"bytes saved by adaptive uploads: {record.bytes_saved / 1e6:.1f} MB"
    return table


def _evaluation_table(evaluation: Mapping[str, Mapping[str, float]]) -> Table:
    table = Table("site", "final val MRR@10", "final val R@1", title="final model at each site", title_justify="left")
    for site_id, metrics in sorted(evaluation.items()):
        table.add_row(site_id, _number(metrics.get("val-mrr@10")), _number(metrics.get("val-recall@1")))
    return table


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """``ragfed train`` and ``ragfed federation remove-site`` (registered after the federation group's
    own commands, this unlearning version replaces its plain "forget the site" one)."""
    from rag_fed.cli.federation_commands import federation_app
    from rag_fed.cli.unlearning_commands import remove_site

    app.command("train")(reports_errors(train))
    app.command("mine-pairs")(reports_errors(mine_site_training_pairs))
    federation_app.command("remove-site")(reports_errors(remove_site))
